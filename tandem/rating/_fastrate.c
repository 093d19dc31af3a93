/* The per-CDR loops of batch pricing in C (optional: tandem/rating/fastrate.py runs the
 * numpy code of tandem/rating/price.py instead when this extension is not built, and the
 * tests hold both, and the scalar price_call, to the same answers:
 * tests/test_rating_fastrate.py).
 *
 * price_side(acct, seg, duration, key, reason, roots, nodes, root_digits, seg_root,
 *            seg_empty, rate, row_class, classes, grace, codes, row, amount, billed) -> None
 *
 *   One side of a batch of CDRs priced on a flat rate book (no tariff-plan intervals,
 *   every cost numerator within int64: RateBook.always_fast): the unknown account, the
 *   time segment's emptiness, the longest prefix (the key trie of
 *   tandem/rating/keytrie.py: one root entry, then one node entry per further key digit),
 *   the billed seconds (initial/next increments, minimum duration, the free calls of the
 *   grace period), the exact cost numerator 60 * fee + rate * billed and its one rounding
 *   (tandem.money.round_scaled's six modes) divided by 60. Money stays int64 scaled
 *   integers throughout; a numerator that would not fit int64 raises OverflowError (the
 *   caller only comes here for books proven not to reach it). CDRs are taken BLOCK at a
 *   time, stage by stage (root entries, each node level, rate rows), so that the cache
 *   misses of a block's CDRs overlap instead of following one another; what a row is
 *   billed by besides its rate (its tariff class: fee, increments, minimum, rounding) is
 *   one of a few classes, so that the per-row data read is small (8 bytes, 12 with
 *   several classes) and mostly stays in cache.
 *
 *   How it is made fast (2026-12, issue 11: 9.5 -> 4.1 ms per 262,144 CDRs here, the
 *   same answers, the same errors; tests/test_rating_fastrate.py holds the loop to its
 *   first form, written in Python, on every input):
 *   - each class is worked out once per call (Class): its divisions by the next
 *     increment and the rounding step become a 128-bit multiplication's high word
 *     (Magic63, exact for every int64), its rounding mode one comparison
 *     (2 * rem + tie > step); a class outside that domain (step above 2**60 or not a
 *     multiple of 60, an unknown mode, next < 1: no deck builds one) is priced by
 *     price_general, the loop's first form;
 *   - the loop is inlined once per layout (one or several root tables, one or several
 *     classes), so neither is asked per CDR and one class stays in registers;
 *   - the node levels walk only the CDRs still unresolved (walk, a branch-free list),
 *     not the whole block again; a row's range is checked after the walk;
 *   - each stage's prefetches are a loop of their own (measured: a prefetch inside a
 *     loop that also loads or computes was slower, ~5-35 %), and a block is priced
 *     after the next block's root entries are requested (todo holds two blocks), so
 *     that those misses overlap the pricing; blocks still fail in order: an index out
 *     of range in the next block's first stage is told after this block's pricing;
 *   - the outputs are written once per CDR, and division by 11**j is one multiplication.
 *
 *   Inputs (C-contiguous buffers): acct, seg, duration, key: int64 per CDR (seg: the time
 *   segment of each CDR, only read where the CDR is priced); reason: int64 per CDR, in
 *   and out (0: priced so far; codes = (unknown, no_matching_prefix, no_deck_in_force)
 *   are set here); roots, nodes: int32 trie entries; seg_root: int64 per segment, or
 *   None (one root table); seg_empty: bool per segment; rate: int64 per rate row;
 *   row_class: int32 per rate row, or None (every row of class 0); classes: CLASS_WIDTH
 *   int64 per class (connect fee, initial and next increments with 0 read as 1, minimum
 *   duration, rounding step, rounding mode); grace: int64 per account. Outputs (int64
 *   per CDR): row (-1: none), amount, billed (0 where not priced). Every index read is
 *   checked (ValueError).
 *
 * plain_keys(offsets, data, valid, keys) -> bool
 *
 *   The base-11 match keys (tandem/rating/keys.py number_keys) of an Arrow string array
 *   given as its int32 offsets (n + 1 of them), its data bytes and its validity (uint8
 *   per string, 1: present; or None): True, with keys filled (int64, 0 for a null
 *   string), when every present string is 1 to 15 ASCII digits not beginning with 0 --
 *   a number tandem.numbers.e164_digits leaves as it is; False (keys undefined) as soon
 *   as one is not, for the general path to normalise.
 *
 * decimal_words(a, b, out) -> limbs, decimal_total(data, offset, n, validity) -> limbs
 *
 *   The money columns of a priced batch (tandem/rating/amounts.py): int64 scaled amounts
 *   (or the difference of two, the margin) written as decimal128's 16-byte words in one
 *   pass, and the exact sum of such a column read from its Arrow buffers (see each
 *   function below).
 *
 * gather_codes(row, a, b, out_a, out_b) -> count of rows < 0
 *
 *   A priced side's prefix and destination codes: both tables read at each CDR's rate
 *   row in one pass (see the function below).
 *
 * All release the GIL while they loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DIGITS 15

/* 11**j: the weight of a key digit MAX_DIGITS - 1 - j places from the first */
static const int64_t POW11[MAX_DIGITS] = {
    1LL,          11LL,          121LL,          1331LL,          14641LL,
    161051LL,     1771561LL,     19487171LL,     214358881LL,     2357947691LL,
    25937424601LL, 285311670611LL, 3138428376721LL, 34522712143931LL, 379749833583241LL,
};

enum { HALF_UP = 0, HALF_EVEN = 1, UP = 2, CEILING = 3, DOWN = 4, FLOOR = 5 };

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static void
release(Buf *bufs, int n)
{
    for (int i = 0; i < n; i++)
        if (bufs[i].held) {
            PyBuffer_Release(&bufs[i].view);
            bufs[i].held = 0;
        }
}

/* A C-contiguous buffer of items of `itemsize` bytes; *count gets the number of items. */
static int
take(PyObject *obj, Buf *b, Py_ssize_t itemsize, int writable, const char *name,
     Py_ssize_t *count)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0)
        return -1;
    b->held = 1;
    if (b->view.itemsize != itemsize || b->view.len % itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected, got %zd", name,
                     itemsize, b->view.itemsize);
        return -1;
    }
    *count = b->view.len / itemsize;
    return 0;
}

/* floor(a / b) for b > 0, and a - b * floor(a / b) in *rem (0 <= *rem < b) */
static inline int64_t
floor_div(int64_t a, int64_t b, int64_t *rem)
{
    int64_t q = a / b, r = a % b;
    if (r < 0) {
        q -= 1;
        r += b;
    }
    *rem = r;
    return q;
}

/* Floor division of any int64 by a constant d >= 2 by one multiplication: the quotient
 * of u = n (or ~n for n < 0: below 2**63 either way) by Granlund and Montgomery,
 * "Division by invariant integers using multiplication" (1994), theorem 4.2 with N = 63:
 * floor(u / d) = floor(u * m / 2**(63 + l)) for 2**(l-1) < d <= 2**l and
 * m = floor(2**(63 + l) / d) + 1, below 2**64; the shift 63 + l is at least 64, so only
 * the product's high word is shifted. Then floor(n / d) = ~floor(~n / d) for n < 0. The
 * match keys (below 11**15 < 2**52) are divided by 11**j the same way. */
typedef struct {
    uint64_t m;
    int sh; /* the shift less 64 */
} Magic63;

static Magic63
magic63_of(uint64_t d)
{
    int l = 1;
    while (l < 63 && ((uint64_t)1 << l) < d)
        l++;
    Magic63 mg;
    mg.sh = l - 1;
    mg.m = (uint64_t)((((unsigned __int128)1) << (63 + l)) / d + 1);
    return mg;
}

static inline uint64_t
udiv63(uint64_t u, Magic63 mg) /* u < 2**63 */
{
    return (uint64_t)(((unsigned __int128)u * mg.m) >> 64) >> mg.sh;
}

static inline int64_t
floor_div63(int64_t n, Magic63 mg)
{
    uint64_t sign = (uint64_t)(n >> 63); /* all ones for n < 0 */
    return (int64_t)(udiv63((uint64_t)n ^ sign, mg) ^ sign);
}

/* Two's complement wrapping arithmetic (what the loops did under -fwrapv, spelled out) */
static inline int64_t
wadd(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t
wsub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t
wmul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* Columns of a tariff class (CLASS_WIDTH int64 each, see fastrate.row_classes). */
enum { C_FEE, C_FIRST, C_NEXT, C_MIND, C_STEP, C_MODE, CLASS_WIDTH = 8 };

/* A tariff class as the pricing stage reads it, worked out once per call: `fast` when its
 * next increment is at least 1, its rounding step a positive multiple of 60 up to 2**60
 * and its mode one of the six -- then the divisions by them are multiplications (Magic63)
 * and the rounding one comparison: with q, rem = divmod(numer, step), round_scaled rounds
 * up (to q + 1) exactly when 2 * rem + tie > step, for
 *     half-up: tie = (numer >= 0)       half-even: tie = q & 1
 *     ceiling: tie = step               floor: tie = -step
 *     up: tie = numer >= 0 ? step : -step
 *     down: tie = numer >= 0 ? -step : step
 * (rem = 0 never rounds: tie <= step; |2 * rem + tie| < 2**62 cannot overflow), so
 * tie = tie + (tie_nonneg if numer >= 0) + (tie_odd if q is odd). A class that is not fast
 * (no deck builds one) is priced by price_general, the loop's first form, word for word. */
typedef struct {
    int64_t first, next, mind, step, unit, fee60, tie, tie_nonneg, tie_odd;
    int fee_overflow, fast;
    Magic63 by_next, by_step;
} Class;

static void
class_of(const int64_t *tc, Class *k)
{
    int64_t mode = tc[C_MODE];
    k->first = tc[C_FIRST];
    k->next = tc[C_NEXT];
    k->mind = tc[C_MIND];
    k->step = tc[C_STEP];
    k->fee_overflow = __builtin_mul_overflow(tc[C_FEE], (int64_t)60, &k->fee60);
    k->fast = k->next >= 1 && k->step > 0 && k->step <= ((int64_t)1 << 60) &&
              k->step % 60 == 0 && mode >= HALF_UP && mode <= FLOOR;
    k->unit = k->step > 0 ? k->step / 60 : 0;
    if (!k->fast)
        return;
    k->by_next = magic63_of(k->next > 1 ? (uint64_t)k->next : 2); /* next 1: not read */
    k->by_step = magic63_of((uint64_t)k->step);
    int64_t s = k->step;
    k->tie = mode == CEILING || mode == DOWN ? s : mode == FLOOR || mode == UP ? -s : 0;
    k->tie_nonneg = mode == HALF_UP ? 1 : mode == UP ? 2 * s : mode == DOWN ? -2 * s : 0;
    k->tie_odd = mode == HALF_EVEN ? 1 : 0;
}

/* tandem.money.round_scaled(value, step, mode) // unit, for step > 0, unit = step / 60 */
static inline int
rounded(int64_t value, int64_t step, int64_t mode, int64_t unit, int64_t *out)
{
    int64_t r;
    int64_t q = floor_div(value, step, &r);
    int up = 0;
    if (r != 0) {
        switch (mode) {
        case FLOOR: up = 0; break;
        case CEILING: up = 1; break;
        case UP: up = value >= 0; break;
        case DOWN: up = value < 0; break;
        case HALF_UP:
        case HALF_EVEN: {
            int64_t twice = wmul(2, r);
            if (twice > step)
                up = 1;
            else if (twice < step)
                up = 0;
            else if (mode == HALF_UP)
                up = value >= 0;
            else
                up = (q & 1) != 0;
            break;
        }
        default: return -1;
        }
    }
    return __builtin_mul_overflow(q + up, unit, out) ? -2 : 0;
}

/* The billed seconds and amount of a call of `d` seconds at `rate` on a class that is not
 * fast: 0, or 2 (a bad step or mode) or 3 (overflow). */
static int
price_general(int64_t d, int64_t rate, const int64_t *tc, int64_t *bill_out, int64_t *cost)
{
    int64_t first = tc[C_FIRST], next = tc[C_NEXT];
    int64_t seconds = d > tc[C_MIND] ? d : tc[C_MIND];
    int64_t bill = first;
    if (seconds > first) {
        int64_t rest = wsub(seconds, first);
        bill = wadd(bill, next == 1 ? rest : wmul(wsub(wadd(rest, next), 1) / next, next));
    }
    int64_t numer, fee60, st = tc[C_STEP];
    if (__builtin_mul_overflow(rate, bill, &numer) ||
        __builtin_mul_overflow(tc[C_FEE], (int64_t)60, &fee60) ||
        __builtin_add_overflow(numer, fee60, &numer))
        return 3;
    if (st <= 0 || st % 60)
        return 2;
    int rc = rounded(numer, st, tc[C_MODE], st / 60, cost);
    if (rc)
        return rc == -1 ? 2 : 3;
    *bill_out = bill;
    return 0;
}

/* CDRs handled together: each stage issues the memory reads of every CDR of the block
 * before the next stage uses them, so that their cache misses overlap. */
#define BLOCK 256

/* One call's arrays and what is worked out from them once */
typedef struct {
    const int64_t *acct, *seg, *dur, *key;
    int64_t *reason;
    const int32_t *roots, *nodes;
    const int64_t *seg_root;
    const uint8_t *seg_empty;
    const int64_t *rate, *classes, *grace;
    const int32_t *row_class;
    int64_t *row, *amount, *billed;
    Py_ssize_t n, nroots, nnodes, nsegs, naccts, nrows, nclasses;
    int64_t key_span, code_unknown, code_nomatch, code_nodeck;
    int root_level; /* 15 - root digits: the root index is key / 11**root_level */
    Magic63 by_power[MAX_DIGITS + 1]; /* division by 11**j, j >= 1 */
    const Class *cls;
} Side;

/* key / 11**j */
static inline int64_t
key_div(const Side *x, int64_t key, int j)
{
    return j ? (int64_t)udiv63((uint64_t)key, x->by_power[j]) : key;
}

/* The loop of price_side: 0, or 1 (an index out of range), 2 (a bad step or mode) or
 * 3 (overflow). Inlined in one copy for each of: several root tables (seg_root), several
 * classes (row_class), so that neither is asked per CDR; with one class its numbers stay
 * in registers. */
static inline __attribute__((always_inline)) int
price_loop(const Side *restrict x, const int several_roots, const int several_classes)
{
    const int64_t *restrict acct = x->acct, *restrict seg = x->seg, *restrict dur = x->dur,
                            *restrict key = x->key, *restrict seg_root = x->seg_root,
                            *restrict rate = x->rate, *restrict grace = x->grace;
    int64_t *restrict reason = x->reason, *restrict row_out = x->row,
                      *restrict amount = x->amount, *restrict billed_out = x->billed;
    const int32_t *restrict roots = x->roots, *restrict nodes = x->nodes,
                            *restrict row_class = x->row_class;
    const uint8_t *restrict seg_empty = x->seg_empty;
    const uint64_t nroots = (uint64_t)x->nroots, nsegs = (uint64_t)x->nsegs,
                   naccts = (uint64_t)x->naccts, key_span = (uint64_t)x->key_span;
    const int64_t nnodes = x->nnodes, nrows = x->nrows, nclasses = x->nclasses;
    const int root_level = x->root_level;
    const Class one = x->cls[0]; /* the class of every row when there is one */

    /* The blocks go through a pipeline: a block's rows are priced after the next block's
     * root entries are requested (so that their cache misses overlap the pricing), before
     * they are read. An index out of range in the next block's first stage is told after
     * this block's pricing, as it would have been (blocks fail in order). */
    Py_ssize_t todo[2][BLOCK]; /* the CDRs of the last two blocks being matched */
    int64_t at[BLOCK], entry[BLOCK], kv[BLOCK];
    int walk[BLOCK]; /* the CDRs (indexes into todo) whose entry is still a node */
    int prev = 0, priced = 0; /* the block to price: todo[prev][:priced] */
    for (Py_ssize_t base = 0;; base += BLOCK) {
        Py_ssize_t end = base + BLOCK < x->n ? base + BLOCK : x->n;
        int next = 1 - prev, count = 0, pending = 0;
        /* the root entry of every CDR to price */
        for (Py_ssize_t i = base; i < end; i++) {
            if (reason[i] != 0)
                goto not_priced;
            int64_t a = acct[i];
            if (a < 0) {
                reason[i] = x->code_unknown;
                goto not_priced;
            }
            int64_t g = seg[i], k = key[i];
            if (((uint64_t)g >= nsegs) | ((uint64_t)a >= naccts) | ((uint64_t)k >= key_span)) {
                pending = 1;
                break;
            }
            if (seg_empty[g]) {
                reason[i] = x->code_nodeck;
                goto not_priced;
            }
            int64_t p = key_div(x, k, root_level);
            if (several_roots)
                p += seg_root[g];
            if ((uint64_t)p >= nroots) {
                pending = 1;
                break;
            }
            todo[next][count] = i;
            kv[count] = k;
            at[count++] = p;
            continue;
        not_priced:
            row_out[i] = -1;
            amount[i] = 0;
            billed_out[i] = 0;
        }
        for (int c = 0; c < count; c++)
            __builtin_prefetch(&roots[at[c]]);
        /* the price of each call */
        for (int c = 0; c < priced; c++) {
            Py_ssize_t i = todo[prev][c];
            if (entry[c] == 0) {
                reason[i] = x->code_nomatch;
                row_out[i] = -1;
                amount[i] = 0;
                billed_out[i] = 0;
                continue;
            }
            int64_t r = entry[c] - 1;
            row_out[i] = r;
            int64_t d = dur[i], g = grace[acct[i]];
            if (d <= 0 || d <= g) {
                /* a free call: no increments, no fee */
                amount[i] = 0;
                billed_out[i] = 0;
                continue;
            }
            const Class *k = &one;
            int64_t cl = 0;
            if (several_classes) {
                cl = row_class[r];
                if (cl < 0 || cl >= nclasses)
                    return 1;
                k = &x->cls[cl];
            }
            int64_t bill, cost;
            if (__builtin_expect(!k->fast, 0)) {
                int rc = price_general(d, rate[r], &x->classes[cl * CLASS_WIDTH], &bill, &cost);
                if (rc)
                    return rc;
                billed_out[i] = bill;
                amount[i] = cost;
                continue;
            }
            int64_t seconds = d > k->mind ? d : k->mind;
            bill = k->first;
            if (seconds > k->first) {
                int64_t rest = wsub(seconds, k->first);
                if (k->next == 1)
                    bill = wadd(bill, rest);
                else {
                    /* (rest + next - 1) / next * next, as C divides (towards 0) */
                    int64_t t = wadd(rest, k->next - 1);
                    int64_t q = t >= 0 ? (int64_t)udiv63((uint64_t)t, k->by_next) : t / k->next;
                    bill = wadd(bill, wmul(q, k->next));
                }
            }
            int64_t numer;
            if (__builtin_mul_overflow(rate[r], bill, &numer) || k->fee_overflow ||
                __builtin_add_overflow(numer, k->fee60, &numer))
                return 3;
            /* round_scaled(numer, step, mode) / unit: q, rem = divmod(numer, step) */
            int64_t q = floor_div63(numer, k->by_step);
            int64_t rem = numer - q * k->step; /* 0 <= rem < step <= 2**62 */
            /* up: 2 * rem + tie > step (see Class) */
            int64_t tie = k->tie + (k->tie_nonneg & -(int64_t)(numer >= 0)) +
                          (k->tie_odd & -(q & 1));
            int64_t up = 2 * rem + tie > k->step;
            if (__builtin_mul_overflow(q + up, k->unit, &cost))
                return 3;
            billed_out[i] = bill;
            amount[i] = cost;
        }
        if (pending)
            return 1;
        if (base >= x->n)
            return 0;
        /* the root entries (a row's check waits for the walk's end: any index out of range
         * fails the same way) */
        int deep = 0, bad = 0;
        for (int c = 0; c < count; c++) {
            int64_t e = roots[at[c]];
            entry[c] = e;
            walk[deep] = c;
            deep += e < 0;
            bad |= e > nrows;
        }
        /* one node level at a time for the CDRs still unresolved (only those: walk) */
        for (int level = root_level; deep;) {
            if (--level < 0)
                return 1;
            for (int w = 0; w < deep; w++) {
                int c = walk[w];
                int64_t node = -1 - entry[c];
                bad |= node >= nnodes;
                int64_t q = key_div(x, kv[c], level);
                at[c] = node * 11 + (q - q / 11 * 11);
            }
            if (bad)
                return 1;
            for (int w = 0; w < deep; w++)
                __builtin_prefetch(&nodes[at[walk[w]]]);
            int still = 0;
            for (int w = 0; w < deep; w++) {
                int c = walk[w];
                int64_t e = nodes[at[c]];
                entry[c] = e;
                walk[still] = c;
                still += e < 0;
                bad |= e > nrows;
            }
            deep = still;
        }
        if (bad)
            return 1;
        /* the matched rows, fetched */
        for (int c = 0; c < count; c++)
            if (entry[c] > 0) {
                __builtin_prefetch(&rate[entry[c] - 1]);
                if (several_classes)
                    __builtin_prefetch(&row_class[entry[c] - 1]);
            }
        prev = next;
        priced = count;
    }
}

static int
price_all(const Side *x)
{
    if (x->seg_root)
        return x->row_class ? price_loop(x, 1, 1) : price_loop(x, 1, 0);
    return x->row_class ? price_loop(x, 0, 1) : price_loop(x, 0, 0);
}

enum {
    A_ACCT, A_SEG, A_DUR, A_KEY, A_REASON, A_ROOTS, A_NODES, A_SEGROOT, A_SEGEMPTY, A_RATE,
    A_CLASS, A_CLASSES, A_GRACE, A_ROW, A_AMOUNT, A_BILLED, A_COUNT
};

static PyObject *
fastrate_price_side(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 18) {
        PyErr_SetString(PyExc_TypeError,
                        "price_side(acct, seg, duration, key, reason, roots, nodes, "
                        "root_digits, seg_root, seg_empty, rate, row_class, classes, grace, "
                        "codes, row, amount, billed)");
        return NULL;
    }
    /* argument position of each buffer (root_digits is 7, codes 14) */
    static const int pos[A_COUNT] = {0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 16, 17};
    static const char *names[A_COUNT] = {
        "acct", "seg", "duration", "key", "reason", "roots", "nodes", "seg_root",
        "seg_empty", "rate", "row_class", "classes", "grace", "row", "amount", "billed"};
    Buf b[A_COUNT];
    Py_ssize_t len[A_COUNT];
    memset(b, 0, sizeof b);
    memset(len, 0, sizeof len);
    long digits = PyLong_AsLong(args[7]);
    if (digits == -1 && PyErr_Occurred())
        return NULL;
    if (digits < 1 || digits > MAX_DIGITS) {
        PyErr_SetString(PyExc_ValueError, "root_digits must be 1 to 15");
        return NULL;
    }
    int64_t code_unknown, code_nomatch, code_nodeck;
    if (!PyArg_ParseTuple(args[14], "LLL", &code_unknown, &code_nomatch, &code_nodeck))
        return NULL;
    for (int i = 0; i < A_COUNT; i++) {
        PyObject *o = args[pos[i]];
        if ((i == A_SEGROOT || i == A_CLASS) && o == Py_None)
            continue;
        Py_ssize_t size =
            (i == A_ROOTS || i == A_NODES || i == A_CLASS) ? 4 : (i == A_SEGEMPTY ? 1 : 8);
        int writable = i == A_REASON || i == A_ROW || i == A_AMOUNT || i == A_BILLED;
        if (take(o, &b[i], size, writable, names[i], &len[i]) < 0) {
            release(b, A_COUNT);
            return NULL;
        }
    }
    Py_ssize_t n = len[A_ACCT];
    for (int i = A_SEG; i <= A_REASON; i++)
        if (len[i] != n)
            goto bad_length;
    if (len[A_ROW] != n || len[A_AMOUNT] != n || len[A_BILLED] != n)
        goto bad_length;
    if (len[A_CLASSES] % CLASS_WIDTH || len[A_CLASSES] == 0)
        goto bad_length;
    if (b[A_CLASS].held && len[A_CLASS] != len[A_RATE])
        goto bad_length;
    if (b[A_SEGROOT].held && len[A_SEGROOT] != len[A_SEGEMPTY])
        goto bad_length;

    Side x;
    x.acct = b[A_ACCT].view.buf;
    x.seg = b[A_SEG].view.buf;
    x.dur = b[A_DUR].view.buf;
    x.key = b[A_KEY].view.buf;
    x.reason = b[A_REASON].view.buf;
    x.roots = b[A_ROOTS].view.buf;
    x.nodes = b[A_NODES].view.buf;
    x.seg_root = b[A_SEGROOT].held ? b[A_SEGROOT].view.buf : NULL;
    x.seg_empty = b[A_SEGEMPTY].view.buf;
    x.rate = b[A_RATE].view.buf;
    x.classes = b[A_CLASSES].view.buf;
    x.grace = b[A_GRACE].view.buf;
    x.row_class = b[A_CLASS].held ? b[A_CLASS].view.buf : NULL;
    x.row = b[A_ROW].view.buf;
    x.amount = b[A_AMOUNT].view.buf;
    x.billed = b[A_BILLED].view.buf;
    x.n = n;
    x.nroots = len[A_ROOTS];
    x.nnodes = len[A_NODES] / 11;
    x.nsegs = len[A_SEGEMPTY];
    x.naccts = len[A_GRACE];
    x.nrows = len[A_RATE];
    x.nclasses = len[A_CLASSES] / CLASS_WIDTH;
    x.code_unknown = code_unknown;
    x.code_nomatch = code_nomatch;
    x.code_nodeck = code_nodeck;
    x.root_level = MAX_DIGITS - (int)digits;
    x.key_span = 1;
    for (int j = 0; j <= MAX_DIGITS; j++) {
        if (j)
            x.by_power[j] = magic63_of((uint64_t)x.key_span);
        if (j < MAX_DIGITS)
            x.key_span *= 11;
    }
    Class *cls = PyMem_Malloc(x.nclasses * sizeof(Class));
    if (!cls) {
        release(b, A_COUNT);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t c = 0; c < x.nclasses; c++)
        class_of(&x.classes[c * CLASS_WIDTH], &cls[c]);
    x.cls = cls;

    int err; /* 1: an index out of range, 2: a bad step or mode, 3: overflow */
    Py_BEGIN_ALLOW_THREADS
    err = price_all(&x);
    Py_END_ALLOW_THREADS
    PyMem_Free(cls);
    release(b, A_COUNT);
    if (err == 1) {
        PyErr_SetString(PyExc_ValueError, "price_side: an index out of the book's range");
        return NULL;
    }
    if (err == 2) {
        PyErr_SetString(PyExc_ValueError, "price_side: a rounding step or mode out of range");
        return NULL;
    }
    if (err == 3) {
        PyErr_SetString(PyExc_OverflowError, "price_side: a cost numerator beyond int64");
        return NULL;
    }
    Py_RETURN_NONE;

bad_length:
    release(b, A_COUNT);
    PyErr_SetString(PyExc_ValueError, "price_side: arrays of mismatched lengths");
    return NULL;
}

#ifdef __SSE2__
/* The key of the `length` (1..MAX_DIGITS) ASCII digits at p, 16 bytes of which can be
 * read, into *key: sum of (digit + 1) * 11**(MAX_DIGITS - 1 - position), the bytes past
 * the number weighed 0; 0 if one of the `length` bytes is not a digit. The byte lanes
 * are moved up one (lane k + 1 holds position k: lane k weighs 11**(15 - k)), then
 * summed by pairs three times over (weights 11, 121, 14641: every partial sum stays
 * below 2**31), into two 8-lane halves joined by 11**8. */
static int
sse2_key(const uint8_t *p, int64_t length, int64_t *key)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8('0'));
    __m128i lane = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m128i in = _mm_cmplt_epi8(lane, _mm_set1_epi8((char)length));
    __m128i digit = _mm_cmpeq_epi8(_mm_subs_epu8(d, _mm_set1_epi8(9)), zero); /* d <= 9 */
    if (_mm_movemask_epi8(_mm_andnot_si128(digit, in)))
        return 0;
    __m128i v = _mm_and_si128(_mm_add_epi8(d, _mm_set1_epi8(1)), in);
    v = _mm_slli_si128(v, 1);
    __m128i w11 = _mm_set1_epi32(1 << 16 | 11); /* int16 pairs (11, 1), low half first */
    __m128i a = _mm_madd_epi16(_mm_unpacklo_epi8(v, zero), w11);
    __m128i b = _mm_madd_epi16(_mm_unpackhi_epi8(v, zero), w11);
    __m128i c = _mm_madd_epi16(_mm_packs_epi32(a, b), _mm_set1_epi32(1 << 16 | 121));
    __m128i e = _mm_madd_epi16(_mm_packs_epi32(c, c), _mm_set1_epi32(1 << 16 | 14641));
    int64_t high = _mm_cvtsi128_si32(e);
    int64_t low = _mm_cvtsi128_si32(_mm_srli_si128(e, 4));
    *key = high * POW11[8] + low;
    return 1;
}
#endif

static PyObject *
fastrate_plain_keys(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "plain_keys(offsets, data, valid, keys)");
        return NULL;
    }
    Buf b[4];
    Py_ssize_t len[4] = {0, 0, 0, 0};
    memset(b, 0, sizeof b);
    if (take(args[0], &b[0], 4, 0, "offsets", &len[0]) < 0 ||
        take(args[1], &b[1], 1, 0, "data", &len[1]) < 0 ||
        (args[2] != Py_None && take(args[2], &b[2], 1, 0, "valid", &len[2]) < 0) ||
        take(args[3], &b[3], 8, 1, "keys", &len[3]) < 0) {
        release(b, 4);
        return NULL;
    }
    Py_ssize_t n = len[3];
    if (len[0] != n + 1 || (b[2].held && len[2] != n)) {
        release(b, 4);
        PyErr_SetString(PyExc_ValueError, "plain_keys: arrays of mismatched lengths");
        return NULL;
    }
    const int32_t *offsets = b[0].view.buf;
    const uint8_t *data = b[1].view.buf;
    const uint8_t *valid = b[2].held ? b[2].view.buf : NULL;
    int64_t *keys = b[3].view.buf;
    Py_ssize_t size = len[1];
    int plain = 1, bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t lo = offsets[i], hi = offsets[i + 1];
        if (valid && !valid[i]) {
            keys[i] = 0;
            continue;
        }
        if (lo < 0 || hi < lo || hi > size) {
            bad = 1;
            break;
        }
        int64_t length = hi - lo;
        if (length < 1 || length > MAX_DIGITS || data[lo] == '0') {
            plain = 0;
            break;
        }
        /* k = sum of (digit + 1) * 11**(MAX_DIGITS - 1 - position): the products do
         * not wait on one another (Horner's k = k * 11 + digit, then one * 11 per
         * missing digit, chains a multiplication per digit) */
        const uint8_t *p = data + lo;
        int64_t k = 0;
        unsigned bad_digit = 0;
#ifdef __SSE2__
        if (size - lo >= 16) {
            if (!sse2_key(p, length, &k)) {
                plain = 0;
                break;
            }
            keys[i] = k;
            continue;
        }
#endif
        if (size - lo >= MAX_DIGITS) {
            /* MAX_DIGITS bytes can be read: one fixed, branch-free pass over them, the
             * bytes past the number weighed 0 (no misprediction on its length) */
            for (int j = 0; j < MAX_DIGITS; j++) {
                unsigned d = (unsigned)p[j] - '0';
                int64_t in = j < length;
                bad_digit |= (unsigned)in & (d > 9);
                k += in * (int64_t)(d + 1) * POW11[MAX_DIGITS - 1 - j];
            }
        } else {
            for (int64_t j = 0; j < length; j++) {
                unsigned d = (unsigned)p[j] - '0';
                bad_digit |= d > 9;
                k += (int64_t)(d + 1) * POW11[MAX_DIGITS - 1 - j];
            }
        }
        if (bad_digit) {
            plain = 0;
            break;
        }
        keys[i] = k;
    }
    Py_END_ALLOW_THREADS
    release(b, 4);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "plain_keys: offsets out of the data's range");
        return NULL;
    }
    return PyBool_FromLong(plain);
}

/* floor(h / 2**32), without relying on >> of a negative number */
static inline int64_t
high_half(int64_t h)
{
    return h >= 0 ? h >> 32 : -(int64_t)((~(uint64_t)h) >> 32) - 1;
}

/* decimal_words(a, b, out) -> (s0, s1, h0, h1): out[2i], out[2i + 1] = the 16-byte
 * decimal128 words (low word, sign word) of a[i] - b[i] as int64 (b None: of a[i]); the
 * difference wraps as numpy's int64 subtraction does. a, b: int64 per value; out: 2 int64
 * per value. Returns the exact sum of the values written, as decimal_total's limbs
 * (n < 2**31). */
static PyObject *
fastrate_decimal_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "decimal_words(a, b, out)");
        return NULL;
    }
    Buf b[3];
    Py_ssize_t len[3] = {0, 0, 0};
    memset(b, 0, sizeof b);
    if (take(args[0], &b[0], 8, 0, "a", &len[0]) < 0 ||
        (args[1] != Py_None && take(args[1], &b[1], 8, 0, "b", &len[1]) < 0) ||
        take(args[2], &b[2], 8, 1, "out", &len[2]) < 0) {
        release(b, 3);
        return NULL;
    }
    Py_ssize_t n = len[0];
    if ((b[1].held && len[1] != n) || len[2] != 2 * n) {
        release(b, 3);
        PyErr_SetString(PyExc_ValueError, "decimal_words: arrays of mismatched lengths");
        return NULL;
    }
    if (n >= ((Py_ssize_t)1 << 31)) {
        release(b, 3);
        PyErr_SetString(PyExc_ValueError, "decimal_words: 2**31 values or more");
        return NULL;
    }
    const int64_t *x = b[0].view.buf;
    const int64_t *y = b[1].held ? b[1].view.buf : NULL;
    int64_t *out = b[2].view.buf;
    uint64_t s0 = 0, s1 = 0;
    int64_t h0 = 0, h1 = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t v = (uint64_t)x[i] - (y ? (uint64_t)y[i] : 0);
        int64_t w;
        memcpy(&w, &v, sizeof w);
        int64_t sign = w < 0 ? -1 : 0;
        out[2 * i] = w;
        out[2 * i + 1] = sign;
        s0 += v;
        s1 += s0 < v;
        h0 += (int64_t)(uint32_t)sign;
        h1 += sign; /* high_half(-1) = -1, high_half(0) = 0 */
    }
    Py_END_ALLOW_THREADS
    release(b, 3);
    return Py_BuildValue("(KKLL)", (unsigned long long)s0, (unsigned long long)s1,
                         (long long)h0, (long long)h1);
}

/* decimal_total(data, offset, n, validity) -> (s0, s1, h0, h1): the exact sum of the n
 * decimal128 values from value `offset` of an Arrow buffer (16 little-endian bytes each:
 * low word, high word), nulls (a clear bit of `validity`, an Arrow bitmap from bit
 * `offset`; None: no nulls) counted 0, as limbs: sum = s0 + s1 * 2**64 + (h0 + h1 * 2**32)
 * * 2**64 (s0, s1 unsigned; h0, h1 signed). n < 2**31 (no limb can wrap). */
static PyObject *
fastrate_decimal_total(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "decimal_total(data, offset, n, validity)");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (offset < 0 || n < 0 || n >= ((Py_ssize_t)1 << 31)) {
        PyErr_SetString(PyExc_ValueError, "decimal_total: offset or count out of range");
        return NULL;
    }
    Buf b[2];
    Py_ssize_t len[2] = {0, 0};
    memset(b, 0, sizeof b);
    if (take(args[0], &b[0], 1, 0, "data", &len[0]) < 0 ||
        (args[3] != Py_None && take(args[3], &b[1], 1, 0, "validity", &len[1]) < 0)) {
        release(b, 2);
        return NULL;
    }
    if (len[0] / 16 < offset + n || (b[1].held && len[1] < (offset + n + 7) / 8)) {
        release(b, 2);
        PyErr_SetString(PyExc_ValueError, "decimal_total: buffers shorter than the values");
        return NULL;
    }
    const uint8_t *data = b[0].view.buf;
    const uint8_t *valid = b[1].held ? b[1].view.buf : NULL;
    uint64_t s0 = 0, s1 = 0;
    int64_t h0 = 0, h1 = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = offset; k < offset + n; k++) {
        if (valid && !((valid[k >> 3] >> (k & 7)) & 1))
            continue;
        uint64_t lo;
        int64_t hi;
        memcpy(&lo, data + 16 * k, 8);
        memcpy(&hi, data + 16 * k + 8, 8);
        s0 += lo;
        s1 += s0 < lo;
        h0 += (int64_t)(uint32_t)hi;
        h1 += high_half(hi);
    }
    Py_END_ALLOW_THREADS
    release(b, 2);
    return Py_BuildValue("(KKLL)", (unsigned long long)s0, (unsigned long long)s1,
                         (long long)h0, (long long)h1);
}

/* gather_codes(row, a, b, out_a, out_b) -> int: out_a[i] = a[r], out_b[i] = b[r] with r =
 * row[i], or 0 where row[i] < 0 (a or b None: that one skipped); returns how many row[i]
 * are < 0. row: int64 per value; a, b: int32 tables; out_a, out_b: int32 per value. A row
 * past a table raises ValueError. */
static PyObject *
fastrate_gather_codes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "gather_codes(row, a, b, out_a, out_b)");
        return NULL;
    }
    Buf b[5];
    Py_ssize_t len[5] = {0, 0, 0, 0, 0};
    memset(b, 0, sizeof b);
    if (take(args[0], &b[0], 8, 0, "row", &len[0]) < 0 ||
        (args[1] != Py_None && take(args[1], &b[1], 4, 0, "a", &len[1]) < 0) ||
        (args[2] != Py_None && take(args[2], &b[2], 4, 0, "b", &len[2]) < 0) ||
        (args[1] != Py_None && take(args[3], &b[3], 4, 1, "out_a", &len[3]) < 0) ||
        (args[2] != Py_None && take(args[4], &b[4], 4, 1, "out_b", &len[4]) < 0)) {
        release(b, 5);
        return NULL;
    }
    Py_ssize_t n = len[0];
    if ((b[3].held && len[3] != n) || (b[4].held && len[4] != n)) {
        release(b, 5);
        PyErr_SetString(PyExc_ValueError, "gather_codes: arrays of mismatched lengths");
        return NULL;
    }
    const int64_t *row = b[0].view.buf;
    const int32_t *ta = b[1].held ? b[1].view.buf : NULL;
    const int32_t *tb = b[2].held ? b[2].view.buf : NULL;
    int32_t *oa = b[3].held ? b[3].view.buf : NULL;
    int32_t *ob = b[4].held ? b[4].view.buf : NULL;
    int64_t na = len[1], nb = len[2], limit = INT64_MAX;
    if (ta && na < limit)
        limit = na;
    if (tb && nb < limit)
        limit = nb;
    Py_ssize_t missing = 0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = row[i];
        if (r < 0) {
            missing++;
            r = 0;
        }
        if (r >= limit && (ta || tb)) {
            bad = 1;
            break;
        }
        if (oa)
            oa[i] = ta[r];
        if (ob)
            ob[i] = tb[r];
    }
    Py_END_ALLOW_THREADS
    release(b, 5);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "gather_codes: a row past the tables");
        return NULL;
    }
    return PyLong_FromSsize_t(missing);
}

static PyMethodDef methods[] = {
    {"price_side", (PyCFunction)(void (*)(void))fastrate_price_side, METH_FASTCALL,
     "One side of a batch priced on a flat book (see the module source)."},
    {"plain_keys", (PyCFunction)(void (*)(void))fastrate_plain_keys, METH_FASTCALL,
     "Match keys of plain E.164 digit strings, or False (see the module source)."},
    {"decimal_words", (PyCFunction)(void (*)(void))fastrate_decimal_words, METH_FASTCALL,
     "The decimal128 words of int64 amounts (or differences) (see the module source)."},
    {"gather_codes", (PyCFunction)(void (*)(void))fastrate_gather_codes, METH_FASTCALL,
     "Two int32 tables read at each row (0 for none) (see the module source)."},
    {"decimal_total", (PyCFunction)(void (*)(void))fastrate_decimal_total, METH_FASTCALL,
     "The exact sum of a decimal128 buffer, as limbs (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastrate", "Batch pricing loops in C (optional).", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastrate(void)
{
    return PyModule_Create(&module);
}
