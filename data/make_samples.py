"""Write Tandem's sample rate decks (run: ``python data/make_samples.py``).

One destination universe, four decks in four vendor layouts:

* ``decks/atlas.csv``       carrier atlas: comma CSV, UTF-8, ``Code,Destination,Rate,
  Effective Date,Increment`` (``60/60``), one short-notice increase (India).
* ``decks/borealis.csv``    carrier borealis: semicolon CSV, decimal comma, Latin-1,
  French destination names, title lines above ``Dial Code;Country;Price;Valid From;
  Interval``; dates written 01/11/2026 (day first).
* ``decks/cygnus.xlsx``     carrier cygnus: XLSX, title area, header on row 5, separate
  initial/next increments, connection fee, Status column, range rows.
* ``decks/acme-telecom.csv`` customer acme-telecom: the sell deck.
* ``code_deck.csv``         prefix → destination name.

Rates are exact decimal strings; nothing here goes through float.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent

# prefix, destination, base buy rate per minute (USD)
UNIVERSE: list[tuple[str, str, str]] = [
    ("1", "United States/Canada", "0.0040"),
    ("1212", "United States New York", "0.0035"),
    ("1310", "United States Los Angeles", "0.0038"),
    ("1416", "Canada Toronto", "0.0042"),
    ("44", "United Kingdom", "0.0060"),
    ("4420", "United Kingdom London", "0.0045"),
    ("447", "United Kingdom Mobile", "0.0120"),
    ("4477", "United Kingdom Mobile Vodafone", "0.0130"),
    ("4478", "United Kingdom Mobile O2", "0.0128"),
    ("4479", "United Kingdom Mobile EE", "0.0125"),
    ("49", "Germany", "0.0070"),
    ("4930", "Germany Berlin", "0.0062"),
    ("4989", "Germany Munich", "0.0064"),
    ("4915", "Germany Mobile T-Mobile", "0.0350"),
    ("4916", "Germany Mobile Vodafone", "0.0360"),
    ("4917", "Germany Mobile O2", "0.0340"),
    ("33", "France", "0.0065"),
    ("331", "France Paris", "0.0058"),
    ("336", "France Mobile", "0.0180"),
    ("337", "France Mobile", "0.0185"),
    ("34", "Spain", "0.0060"),
    ("3491", "Spain Madrid", "0.0055"),
    ("346", "Spain Mobile", "0.0150"),
    ("347", "Spain Mobile", "0.0155"),
    ("39", "Italy", "0.0075"),
    ("393", "Italy Mobile", "0.0210"),
    ("31", "Netherlands", "0.0080"),
    ("316", "Netherlands Mobile", "0.0390"),
    ("91", "India", "0.0150"),
    ("919", "India Mobile", "0.0140"),
    ("918", "India Mobile", "0.0145"),
    ("234", "Nigeria", "0.0900"),
    ("2348", "Nigeria Mobile", "0.1100"),
    ("63", "Philippines", "0.1200"),
    ("639", "Philippines Mobile", "0.1350"),
    ("62", "Indonesia", "0.0400"),
    ("628", "Indonesia Mobile", "0.0450"),
    ("86", "China", "0.0090"),
    ("861", "China Mobile", "0.0095"),
    ("81", "Japan", "0.0200"),
    ("8190", "Japan Mobile", "0.0550"),
    ("61", "Australia", "0.0110"),
    ("614", "Australia Mobile", "0.0240"),
    ("52", "Mexico", "0.0100"),
    ("55", "Brazil", "0.0120"),
    ("5511", "Brazil Sao Paulo", "0.0090"),
    ("27", "South Africa", "0.0250"),
    ("277", "South Africa Mobile", "0.0420"),
    ("20", "Egypt", "0.0800"),
    ("2010", "Egypt Mobile", "0.0950"),
    ("880", "Bangladesh", "0.0300"),
    ("8801", "Bangladesh Mobile", "0.0320"),
    ("92", "Pakistan", "0.0600"),
    ("923", "Pakistan Mobile", "0.0650"),
    # High-risk ranges (International Revenue Share Fraud targets) some carriers sell.
    ("882", "International Networks", "2.5000"),
    ("881", "Global Mobile Satellite", "4.8000"),
    ("2392", "Sao Tome and Principe Special Services", "0.9500"),
    ("53", "Cuba", "0.8500"),
    ("252", "Somalia", "0.6500"),
]

FRENCH = {
    "United Kingdom": "Royaume-Uni",
    "Germany": "Allemagne",
    "Germany Berlin": "Allemagne Berlin",
    "Germany Munich": "Allemagne Munich",
    "Germany Mobile T-Mobile": "Allemagne Mobile T-Mobile",
    "Germany Mobile Vodafone": "Allemagne Mobile Vodafone",
    "Germany Mobile O2": "Allemagne Mobile O2",
    "France": "France",
    "France Paris": "France Paris",
    "France Mobile": "France Mobile",
    "Spain": "Espagne",
    "Spain Mobile": "Espagne Mobile",
    "Italy": "Italie",
    "Netherlands": "Pays-Bas",
    "United States/Canada": "États-Unis/Canada",
    "India": "Inde",
    "Nigeria": "Nigéria",
    "Nigeria Mobile": "Nigéria Mobile",
    "Philippines": "Philippines",
    "China": "Chine",
    "Japan": "Japon",
    "Australia": "Australie",
    "Mexico": "Mexique",
    "Brazil": "Brésil",
    "South Africa": "Afrique du Sud",
    "Egypt": "Égypte",
    "Bangladesh": "Bangladesh",
    "Pakistan": "Pakistan",
    "Indonesia": "Indonésie",
    "Cuba": "Cuba",
    "Somalia": "Somalie",
    "International Networks": "Réseaux Internationaux",
}

RATES = {p: Decimal(r) for p, _, r in UNIVERSE}
NAMES = {p: n for p, n, _ in UNIVERSE}


def q(value: Decimal) -> str:
    """Four decimals, as vendors write them."""
    return str(value.quantize(Decimal("0.0001")))


def atlas() -> str:
    """Atlas: broad coverage, 44/4420/447 (no deeper UK mobile), sells 882 and 53."""
    skip = {"4477", "4478", "4479", "881", "2392", "252", "8801", "5511", "4930", "4989"}
    factor = {"1": "0.95", "44": "1.00", "49": "1.05", "2348": "0.96", "91": "1.00"}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["Code", "Destination", "Rate", "Effective Date", "Increment"])
    for prefix, name, _ in UNIVERSE:
        if prefix in skip:
            continue
        f = Decimal(factor.get(prefix[:2], factor.get(prefix[:1], "1.02")))
        if prefix == "2348":
            f = Decimal("0.96")
        increment = "1/1" if prefix.startswith("1") and len(prefix) <= 4 else "60/60"
        if prefix.startswith("52"):
            increment = "30/6"
        w.writerow([prefix, name, q(RATES[prefix] * f), "2026-11-01", increment])
        if prefix == "91":  # an increase announced with short notice
            w.writerow([prefix, name, "0.0165", "2026-11-27", increment])
    return out.getvalue()


def borealis() -> bytes:
    """Borealis: cheap in Europe, only 44 for the UK (no 4420, no 447), French names."""
    skip = {
        "4420",
        "447",
        "4477",
        "4478",
        "4479",
        "882",
        "881",
        "1212",
        "1310",
        "1416",
        "8190",
        "614",
        "2010",
        "923",
    }
    lines = ["Borealis Télécom SAS - Tarifs de gros", "Liste de prix A-Z;;;;", ""]
    lines.append("Dial Code;Country;Price;Valid From;Interval")
    for prefix, name, _ in UNIVERSE:
        if prefix in skip:
            continue
        europe = prefix[:2] in {"33", "34", "39", "31", "49", "44"}
        f = Decimal("0.88") if europe else Decimal("1.08")
        if prefix.startswith("63"):
            f = Decimal("1.12")  # above acme-telecom's sell rate: margin protection
        french = FRENCH.get(name, name)
        rate = q(RATES[prefix] * f).replace(".", ",")
        lines.append(f"{prefix};{french};{rate};01.11.2026;60/60")
    lines.append("262;Réunion;0,0950;01.11.2026;60/60")
    lines.append("2626;Réunion Mobile;0,1400;01.11.2026;60/60")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def cygnus(path: Path) -> None:
    """Cygnus: XLSX with a title block, deep mobile prefixes, ranges, fees, Status."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Rates"
    ws["A1"] = "CYGNUS CARRIER SERVICES"
    ws["A1"].font = Font(bold=True, size=16)
    ws["A2"] = "Wholesale A-Z rate sheet — all rates in USD per minute"
    ws["A3"] = "Issued 2026-10-20"
    ws.append([])
    header = [
        "Prefix",
        "Description",
        "Rate per min",
        "Connection Fee",
        "Initial Increment",
        "Next Increment",
        "Effective Date",
        "Status",
    ]
    for col, text in enumerate(header, start=1):
        ws.cell(row=5, column=col, value=text).font = Font(bold=True)
    skip = {"1", "882", "53", "880", "8801", "62", "628", "4915", "4916", "4917", "336", "337"}
    row = 6
    eff = datetime(2026, 11, 1)

    def put(prefix: str, name: str, rate: str, fee: str, initial: int, nxt: int, status: str):
        nonlocal row
        ws.cell(row=row, column=1, value=prefix)
        ws.cell(row=row, column=2, value=name)
        ws.cell(row=row, column=3, value=Decimal(rate) if rate else None)
        ws.cell(row=row, column=4, value=Decimal(fee) if fee else None)
        ws.cell(row=row, column=5, value=initial)
        ws.cell(row=row, column=6, value=nxt)
        cell = ws.cell(row=row, column=7, value=eff)
        cell.number_format = "yyyy-mm-dd"
        ws.cell(row=row, column=8, value=status)
        row += 1

    for prefix, name, _ in UNIVERSE:
        if prefix in skip:
            continue
        f = Decimal("0.97")
        if prefix == "2348":
            f = Decimal("1.14")  # above the sell rate
        fee = "0.0100" if prefix.startswith("234") else "0"
        status = "Increase" if prefix == "2348" else "Unchanged"
        put(prefix, name, q(RATES[prefix] * f), fee, 1, 1, status)
    # Ranges: one row for three German mobile networks, one for both French mobile codes.
    put("4915-4917", "Germany Mobile", "0.0330", "0", 1, 1, "Unchanged")
    put("33 6; 33 7", "France Mobile", "0.0172", "0", 1, 1, "Unchanged")
    put("2626", "Reunion Mobile", "", "", 1, 1, "Closed")
    wb.save(path)


def acme_telecom() -> str:
    """The customer's sell deck: above the buy rates, except Nigeria and Philippines mobile."""
    sell_skip = {"882", "881", "2392"}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["Prefix", "Description", "Rate per min", "Effective Date", "Billing Increment"])
    for prefix, name, _ in UNIVERSE:
        if prefix in sell_skip:
            continue
        markup = Decimal("1.35")
        if prefix == "2348":
            markup = Decimal("1.10")  # cygnus (1.14x) is above it, atlas below
        if prefix in ("63", "639"):
            markup = Decimal("1.10")  # borealis (1.12x) is above it
        increment = "60/60" if not prefix.startswith("1") else "6/6"
        w.writerow([prefix, name, q(RATES[prefix] * markup), "2026-11-01", increment])
    return out.getvalue()


def code_deck() -> str:
    """Prefix → destination name, for every code the sample decks use."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["Prefix", "Destination"])
    rows = [(p, n) for p, n, _ in UNIVERSE] + [("262", "Reunion"), ("2626", "Reunion Mobile")]
    for prefix, name in sorted(rows):
        w.writerow([prefix, name])
    return out.getvalue()


def main() -> None:
    decks = HERE / "decks"
    decks.mkdir(exist_ok=True)
    (decks / "atlas.csv").write_text(atlas(), encoding="utf-8")
    (decks / "borealis.csv").write_bytes(borealis())
    cygnus(decks / "cygnus.xlsx")
    (decks / "acme-telecom.csv").write_text(acme_telecom(), encoding="utf-8")
    (HERE / "code_deck.csv").write_text(code_deck(), encoding="utf-8")


if __name__ == "__main__":
    main()
