"""Carrier quality (ASR, NER, ACD, PDD) per carrier and destination group, from call outcomes.

* :mod:`tandem.quality.outcomes`: one table from SIP codes and CDR dispositions to
  outcomes (:func:`classify`), NER per ITU-T E.411;
* :class:`QualityBoard`: live scores kept in shared counters (time-decayed, shrunk toward
  the carrier's overall figure, unknown below a minimum of attempts), the router's
  :class:`~tandem.lcr.scores.ScoreSource`;
* :func:`quality_table`: the same figures for a CDR batch (``tandem quality``).
"""

from tandem.lcr.scores import PDD_EDGES_MS, QualityConfig, Score, quality_config_from_mapping
from tandem.quality.batch import QualityRow, QualityTable, quality_table
from tandem.quality.board import ALL_GROUPS, QualityBoard, figures
from tandem.quality.outcomes import EFFECTIVE, Outcome, classify, outcome_of

__all__ = [
    "ALL_GROUPS",
    "EFFECTIVE",
    "PDD_EDGES_MS",
    "Outcome",
    "QualityBoard",
    "QualityConfig",
    "QualityRow",
    "QualityTable",
    "Score",
    "classify",
    "figures",
    "outcome_of",
    "quality_config_from_mapping",
    "quality_table",
]
