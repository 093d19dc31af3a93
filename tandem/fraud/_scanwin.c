/* The window counters of `tandem fraud scan` in C (optional: tandem/fraud/windows.py
 * answers the same in numpy when this extension is not built, and the tests run both on
 * the same random rows, tests/test_fraud_scanwin.py).
 *
 * Every function works on buffers of int64 (bool where said), one value per row of the
 * scan in replay order (time order, file order for ties), and writes into output buffers
 * the caller allocated; the loops run without the GIL, so the scan's two rule threads
 * run at once.
 *
 *   group(key, order, code, first) -> groups
 *       the rows grouped by key (any int64): order = positions, a group's rows together
 *       in replay order; code = group number of each sorted position (ascending); first =
 *       where its group starts. Groups are numbered in order of their first row (a table
 *       when the keys are small, else a hash table), then the rows placed by a counting
 *       sort: O(rows), no comparison sort.
 *   window_sums(order, code, buckets, weights|None, spans, outs, grouped)
 *       per row: the weights (1 each for None; int64 or bool) of the rows j <= i of its
 *       group with a bucket in (bucket_i - span, bucket_i], one output per span; by two
 *       pointers over the group's rows (buckets ascend within a group).
 *   in_progress(order, code, starts, ends, holds, out, grouped)
 *       per row: the earlier rows j < i of its group with holds_j (bool) and
 *       ends_j > starts_i; a min-heap of the ends held.
 *   ended_sums(order, code, starts, ends, amounts, span, step, out)
 *       per row (out in replay order): the amounts of the earlier rows j < i of its group
 *       with floor(starts_i / step) - span < floor(ends_j / step) and ends_j <= starts_i;
 *       a min-heap of pending ends, a queue of ended ones in end order with running sums.
 *
 *   codes(key, out) -> keys
 *       out = each row's key numbered by first row (0 .. keys - 1).
 *   keyed_window_sums(key, keys, buckets, weights|None, spans, outs)
 *   keyed_in_progress(key, keys, starts, ends, holds, out)
 *   keyed_ended_sums(key, keys, starts, ends, amounts, span, step, out)
 *       the same three answers for codes 0 <= key < keys, row by row in replay order
 *       with every key's state at once (no grouping: every column read in order).
 *
 *   digits(offsets, data, number, length) -> bool
 *       the texts of an Arrow string column (its offsets, int32 or int64, and bytes) read
 *       as numbers of 1 to 18 ASCII digits, and their lengths; False (the outputs
 *       meaningless) when a text is anything else.
 *
 * `grouped` = 1 writes the p-th answer at p (group order), 0 at order[p] (replay order).
 * Sums wrap modulo 2**64 like numpy's int64 (exact whenever the true sum fits).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    int held;
} buf_t;

static void
release(buf_t *b)
{
    if (b->held) {
        PyBuffer_Release(&b->view);
        b->held = 0;
    }
}

/* a C-contiguous buffer of n items of `itemsize` bytes (n < 0: any length) */
static int
get(PyObject *obj, buf_t *b, Py_ssize_t itemsize, Py_ssize_t n, int writable, const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    b->held = 0;
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0)
        return -1;
    b->held = 1;
    if (b->view.itemsize != itemsize || b->view.ndim != 1
        || (n >= 0 && b->view.shape[0] != n)) {
        PyErr_Format(PyExc_ValueError, "%s: want %zd items of %zd bytes", what, n, itemsize);
        release(b);
        return -1;
    }
    return 0;
}

#define I64(b) ((int64_t *)(b).view.buf)
#define LEN(b) ((Py_ssize_t)(b).view.shape[0])

/* The buffers an entry point wants, in the order it takes them: `n` is a length (n >= 0),
 * ANY, or AS(i), the length of the table's i-th (earlier) buffer. */
#define ANY (-1)
#define AS(i) (-2 - (i))
#define COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

typedef struct {
    PyObject *obj;
    buf_t *b;
    Py_ssize_t itemsize;
    Py_ssize_t n;
    int writable;
    const char *what;
} want_t;

/* release the first `count` buffers of the table, last first */
static void
release_all(const want_t *want, int count)
{
    while (count > 0)
        release(want[--count].b);
}

/* take the table's buffers in order; on a refusal release the ones taken */
static int
get_all(const want_t *want, int count)
{
    for (int i = 0; i < count; i++) {
        Py_ssize_t n = want[i].n >= ANY ? want[i].n : LEN(*want[AS(want[i].n)].b);
        if (get(want[i].obj, want[i].b, want[i].itemsize, n, want[i].writable, want[i].what)
            < 0) {
            release_all(want, i);
            return -1;
        }
    }
    return 0;
}

/* -- group ------------------------------------------------------------------------------ */

static inline uint64_t
mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* gid[i] = the group number of row i (numbered by first row); returns the number of
 * groups, -1 when out of memory */
static Py_ssize_t
number_groups(const int64_t *key, Py_ssize_t n, int64_t *gid)
{
    if (n == 0)
        return 0;
    int64_t lo = key[0], hi = key[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        if (key[i] < lo)
            lo = key[i];
        if (key[i] > hi)
            hi = key[i];
    }
    Py_ssize_t groups = 0;
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    if (range < (uint64_t)(4 * n + 1024)) { /* small keys: a table */
        int64_t *table = malloc((size_t)(range + 1) * sizeof(int64_t));
        if (table == NULL)
            return -1;
        memset(table, 0xff, (size_t)(range + 1) * sizeof(int64_t));
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t *slot = &table[(uint64_t)key[i] - (uint64_t)lo];
            if (*slot < 0)
                *slot = groups++;
            gid[i] = *slot;
        }
        free(table);
        return groups;
    }
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    int64_t *keys = malloc(cap * sizeof(int64_t));
    int64_t *ids = malloc(cap * sizeof(int64_t));
    if (keys == NULL || ids == NULL) {
        free(keys);
        free(ids);
        return -1;
    }
    memset(ids, 0xff, cap * sizeof(int64_t));
    size_t mask = cap - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t k = key[i];
        size_t h = (size_t)mix((uint64_t)k) & mask;
        while (ids[h] >= 0 && keys[h] != k)
            h = (h + 1) & mask;
        if (ids[h] < 0) {
            keys[h] = k;
            ids[h] = groups++;
        }
        gid[i] = ids[h];
    }
    free(keys);
    free(ids);
    return groups;
}

static PyObject *
scanwin_group(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ok, *oo, *oc, *of;
    if (!PyArg_ParseTuple(args, "OOOO", &ok, &oo, &oc, &of))
        return NULL;
    buf_t k, o, c, f;
    const want_t want[] = {
        {ok, &k, 8, ANY, 0, "key"},
        {oo, &o, 8, AS(0), 1, "order"},
        {oc, &c, 8, AS(0), 1, "code"},
        {of, &f, 8, AS(0), 1, "first"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(k);
    Py_ssize_t groups = 0;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t *key = I64(k), *order = I64(o), *code = I64(c), *first = I64(f);
    /* code first holds each row's group, then is rewritten per sorted position */
    groups = number_groups(key, n, code);
    int64_t *at = groups >= 0 ? calloc((size_t)groups + 1, sizeof(int64_t)) : NULL;
    if (at == NULL && n > 0) {
        failed = 1;
    }
    else if (n > 0) {
        for (Py_ssize_t i = 0; i < n; i++)
            at[code[i] + 1]++;
        for (Py_ssize_t g = 0; g < groups; g++)
            at[g + 1] += at[g];
        /* at[g] = where group g starts; place the rows (stable) */
        for (Py_ssize_t i = 0; i < n; i++)
            order[at[code[i]]++] = i;
        /* at[g] is now where group g ends = where g + 1 starts */
        Py_ssize_t p = 0;
        for (Py_ssize_t g = 0; g < groups; g++) {
            int64_t start = p;
            for (; p < at[g]; p++) {
                code[p] = g;
                first[p] = start;
            }
        }
    }
    free(at);
    Py_END_ALLOW_THREADS
    release_all(want, COUNT(want));
    if (failed)
        return PyErr_NoMemory();
    return PyLong_FromSsize_t(groups);
}

/* -- window sums ------------------------------------------------------------------------ */

#define MAX_SPANS 8

/* the spans (a tuple of ints >= 1, one output each in the list `oouts`) -> their count */
static Py_ssize_t
get_spans(PyObject *ospans, PyObject *oouts, int64_t *spans, const char *who)
{
    Py_ssize_t nspans = PyTuple_GET_SIZE(ospans);
    if (nspans < 1 || nspans > MAX_SPANS || PyList_GET_SIZE(oouts) != nspans) {
        PyErr_Format(PyExc_ValueError, "%s: 1 to 8 spans, one output each", who);
        return -1;
    }
    for (Py_ssize_t s = 0; s < nspans; s++) {
        spans[s] = PyLong_AsLongLong(PyTuple_GET_ITEM(ospans, s));
        if (spans[s] == -1 && PyErr_Occurred())
            return -1;
        if (spans[s] < 1) {
            PyErr_Format(PyExc_ValueError, "%s: a span must be >= 1", who);
            return -1;
        }
    }
    return nspans;
}

/* the weights of `rows` rows (None, int64 or bool; *wbool: bool); a refusal may leave
 * w held: the caller releases it */
static int
get_weights(PyObject *ow, buf_t *w, Py_ssize_t rows, int *wbool, const char *who)
{
    w->held = 0;
    *wbool = 0;
    if (ow == Py_None)
        return 0;
    if (PyObject_GetBuffer(ow, &w->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    w->held = 1;
    *wbool = w->view.itemsize == 1 && w->view.format && w->view.format[0] == '?';
    if (w->view.ndim != 1 || LEN(*w) != rows || !(*wbool || w->view.itemsize == 8)) {
        PyErr_Format(PyExc_ValueError, "%s: weights are int64 or bool", who);
        return -1;
    }
    return 0;
}

static PyObject *
scanwin_window_sums(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *oo, *oc, *ob, *ow, *ospans, *oouts;
    int grouped;
    if (!PyArg_ParseTuple(args, "OOOOO!O!p", &oo, &oc, &ob, &ow, &PyTuple_Type, &ospans,
                          &PyList_Type, &oouts, &grouped))
        return NULL;
    int64_t spans[MAX_SPANS];
    Py_ssize_t nspans = get_spans(ospans, oouts, spans, "window_sums");
    if (nspans < 0)
        return NULL;
    buf_t o, c, b, w, outs[MAX_SPANS];
    Py_ssize_t held_outs = 0;
    w.held = 0;
    const want_t want[] = {
        {oo, &o, 8, ANY, 0, "order"},
        {oc, &c, 8, AS(0), 0, "code"},
        {ob, &b, 8, ANY, 0, "buckets"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(o);
    int wbool;
    PyObject *result = NULL;
    if (get_weights(ow, &w, LEN(b), &wbool, "window_sums") < 0)
        goto out;
    for (; held_outs < nspans; held_outs++)
        if (get(PyList_GET_ITEM(oouts, held_outs), &outs[held_outs], 8, n, 1, "out") < 0)
            goto out;
    {
        const int64_t *order = I64(o), *code = I64(c), *bk = I64(b);
        const int64_t *wi = (ow != Py_None && !wbool) ? I64(w) : NULL;
        const unsigned char *wb = wbool ? (const unsigned char *)w.view.buf : NULL;
        Py_ssize_t rows = LEN(b);
        int bad = 0;
        Py_BEGIN_ALLOW_THREADS
        /* sums from the group's start (wrapping); left pointers and their sums per span */
        uint64_t run = 0, left_sum[MAX_SPANS];
        Py_ssize_t left[MAX_SPANS];
        Py_ssize_t start = 0;
        for (Py_ssize_t p = 0; p < n; p++) {
            int64_t r = order[p];
            if (r < 0 || r >= rows) {
                bad = 1;
                break;
            }
            if (p == 0 || code[p] != code[p - 1]) {
                start = p;
                run = 0;
                for (Py_ssize_t s = 0; s < nspans; s++) {
                    left[s] = p;
                    left_sum[s] = 0;
                }
            }
            uint64_t wt = wi ? (uint64_t)wi[r] : wb ? (uint64_t)(wb[r] != 0) : 1;
            run += wt;
            int64_t bucket = bk[r];
            for (Py_ssize_t s = 0; s < nspans; s++) {
                /* drop the rows with a bucket at or below bucket - span */
                while (left[s] < p) {
                    int64_t lr = order[left[s]];
                    if ((uint64_t)bucket - (uint64_t)bk[lr] < (uint64_t)spans[s])
                        break;
                    left_sum[s] += wi ? (uint64_t)wi[lr] : wb ? (uint64_t)(wb[lr] != 0) : 1;
                    left[s]++;
                }
                int64_t *dst = I64(outs[s]);
                dst[grouped ? p : r] = (int64_t)(run - left_sum[s]);
            }
        }
        (void)start;
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_SetString(PyExc_IndexError, "window_sums: order out of range");
            goto out;
        }
    }
    result = Py_None;
    Py_INCREF(result);
out:
    for (Py_ssize_t s = 0; s < held_outs; s++)
        release(&outs[s]);
    release(&w);
    release_all(want, COUNT(want));
    return result;
}

/* -- heaps ------------------------------------------------------------------------------ */

typedef struct {
    int64_t end;
    int64_t amount;
} item_t;

static inline void
heap_push(item_t *h, Py_ssize_t *size, item_t x)
{
    Py_ssize_t i = (*size)++;
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (h[parent].end <= x.end)
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static inline item_t
heap_pop(item_t *h, Py_ssize_t *size)
{
    item_t top = h[0], last = h[--(*size)];
    Py_ssize_t i = 0, n = *size;
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && h[child + 1].end < h[child].end)
            child++;
        if (h[child].end >= last.end)
            break;
        h[i] = h[child];
        i = child;
    }
    if (n > 0)
        h[i] = last;
    return top;
}

/* -- calls in progress ------------------------------------------------------------------ */

/* The held ends of a group: a min-heap (O(log) a row), or a wheel of counts per second
 * over the next `mask + 1` seconds (O(1) a row plus one step per second the group's
 * starts move on: chosen when the groups' time spans are short beside the rows). */
static void
progress_heap(const int64_t *order, const int64_t *code, const int64_t *starts,
              const int64_t *ends, const unsigned char *holds, int64_t *dst, int grouped,
              Py_ssize_t n, item_t *heap)
{
    Py_ssize_t size = 0;
    for (Py_ssize_t p = 0; p < n; p++) {
        int64_t r = order[p];
        if (p > 0 && code[p] != code[p - 1])
            size = 0;
        int64_t at = starts[r];
        while (size > 0 && heap[0].end <= at)
            heap_pop(heap, &size);
        dst[grouped ? p : r] = (int64_t)size;
        if (holds[r]) {
            item_t x = {ends[r], 0};
            heap_push(heap, &size, x);
        }
    }
}

static void
progress_wheel(const int64_t *order, const int64_t *code, const int64_t *starts,
               const int64_t *ends, const unsigned char *holds, int64_t *dst, int grouped,
               Py_ssize_t n, int64_t *wheel, uint64_t mask)
{
    int64_t live = 0, clock = 0;
    for (Py_ssize_t p = 0; p < n; p++) {
        int64_t r = order[p];
        int64_t at = starts[r];
        if (p == 0 || code[p] != code[p - 1] || (live == 0)) {
            if (live != 0) /* a new group: the last one's ends are forgotten */
                memset(wheel, 0, (size_t)(mask + 1) * sizeof(int64_t));
            live = 0;
            clock = at;
        }
        else if (at != clock) {
            if ((uint64_t)at - (uint64_t)clock > mask) { /* every held end has passed */
                memset(wheel, 0, (size_t)(mask + 1) * sizeof(int64_t));
                live = 0;
            }
            else {
                for (int64_t t = clock + 1; t <= at; t++) {
                    int64_t *slot = &wheel[(uint64_t)t & mask];
                    live -= *slot;
                    *slot = 0;
                }
            }
            clock = at;
        }
        dst[grouped ? p : r] = live;
        if (holds[r] && ends[r] > at) { /* a call of no length ends before the next row */
            wheel[(uint64_t)ends[r] & mask]++;
            live++;
        }
    }
}

/* 1 when the wheel is cheaper: the groups' time spans (seconds walked) beside the rows;
 * *mask = the wheel's size - 1 (a power of two above every held call's length) */
static int
wheel_pays(const int64_t *order, const int64_t *code, const int64_t *starts,
           const int64_t *ends, const unsigned char *holds, Py_ssize_t n, uint64_t *mask)
{
    uint64_t longest = 0, walked = 0, groups = 0;
    Py_ssize_t first = 0;
    for (Py_ssize_t p = 0; p < n; p++) {
        int64_t r = order[p];
        if (holds[r]) {
            uint64_t len = (uint64_t)ends[r] - (uint64_t)starts[r];
            if (ends[r] < starts[r])
                return 0;
            if (len > longest)
                longest = len;
        }
        if (p + 1 == n || code[p + 1] != code[p]) {
            walked += (uint64_t)starts[r] - (uint64_t)starts[order[first]];
            groups++;
            first = p + 1;
        }
    }
    if (longest >= (1u << 22))
        return 0;
    uint64_t size = 1;
    while (size <= longest)
        size <<= 1;
    /* seconds walked, and a wheel cleared at most once a group */
    if ((walked + groups * size) / 64 > (uint64_t)n)
        return 0;
    *mask = size - 1;
    return 1;
}

static PyObject *
scanwin_in_progress(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *oo, *oc, *os, *oe, *oh, *oout;
    int grouped, method = 0;
    if (!PyArg_ParseTuple(args, "OOOOOOp|i", &oo, &oc, &os, &oe, &oh, &oout, &grouped,
                          &method))
        return NULL;
    buf_t o, c, s, e, h, out;
    PyObject *result = NULL;
    const want_t want[] = {
        {oo, &o, 8, ANY, 0, "order"},
        {oc, &c, 8, AS(0), 0, "code"},
        {os, &s, 8, ANY, 0, "starts"},
        {oe, &e, 8, AS(2), 0, "ends"},
        {oh, &h, 1, AS(2), 0, "holds"},
        {oout, &out, 8, AS(0), 1, "out"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(o), rows = LEN(s);
    {
        const int64_t *order = I64(o), *code = I64(c), *starts = I64(s), *ends = I64(e);
        const unsigned char *holds = (const unsigned char *)h.view.buf;
        int64_t *dst = I64(out);
        int bad = 0, nomem = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t p = 0; p < n; p++)
            if (order[p] < 0 || order[p] >= rows) {
                bad = 1;
                break;
            }
        if (!bad) {
            uint64_t mask = 0;
            /* method: 0 the cheaper, 1 the heap, 2 the wheel (tests run both) */
            int wheel = wheel_pays(order, code, starts, ends, holds, n, &mask);
            if (method == 1)
                wheel = 0;
            if (wheel || method == 2) {
                if (!wheel) { /* asked for: size it anyway */
                    int64_t longest = 0;
                    for (Py_ssize_t i = 0; i < rows; i++)
                        if (holds[i] && ends[i] - starts[i] > longest)
                            longest = ends[i] - starts[i];
                    mask = 1;
                    while (mask <= (uint64_t)longest)
                        mask <<= 1;
                    mask -= 1;
                }
                int64_t *ring = calloc((size_t)mask + 1, sizeof(int64_t));
                if (ring == NULL)
                    nomem = 1;
                else
                    progress_wheel(order, code, starts, ends, holds, dst, grouped, n, ring,
                                   mask);
                free(ring);
            }
            else {
                item_t *heap = malloc(((size_t)n + 1) * sizeof(item_t));
                if (heap == NULL)
                    nomem = 1;
                else
                    progress_heap(order, code, starts, ends, holds, dst, grouped, n, heap);
                free(heap);
            }
        }
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_SetString(PyExc_IndexError, "in_progress: order out of range");
            goto out;
        }
        if (nomem) {
            PyErr_NoMemory();
            goto out;
        }
    }
    result = Py_None;
    Py_INCREF(result);
out:
    release_all(want, COUNT(want));
    return result;
}

/* -- sums of ended calls ---------------------------------------------------------------- */

static inline int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b, r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        q -= 1;
    return q;
}

static PyObject *
scanwin_ended_sums(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *oo, *oc, *os, *oe, *oa, *oout;
    long long span, step;
    if (!PyArg_ParseTuple(args, "OOOOOLLO", &oo, &oc, &os, &oe, &oa, &span, &step, &oout))
        return NULL;
    if (step < 1 || span < 1) {
        PyErr_SetString(PyExc_ValueError, "ended_sums: span and step must be >= 1");
        return NULL;
    }
    buf_t o, c, s, e, a, out;
    PyObject *result = NULL;
    const want_t want[] = {
        {oo, &o, 8, ANY, 0, "order"},
        {oc, &c, 8, AS(0), 0, "code"},
        {os, &s, 8, ANY, 0, "starts"},
        {oe, &e, 8, AS(2), 0, "ends"},
        {oa, &a, 8, AS(2), 0, "amounts"},
        {oout, &out, 8, AS(2), 1, "out"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(o), rows = LEN(s);
    {
        item_t *heap = malloc(((size_t)n + 1) * sizeof(item_t));
        item_t *queue = malloc(((size_t)n + 1) * sizeof(item_t));
        if (heap == NULL || queue == NULL) {
            free(heap);
            free(queue);
            PyErr_NoMemory();
            goto out;
        }
        const int64_t *order = I64(o), *code = I64(c), *starts = I64(s), *ends = I64(e);
        const int64_t *amounts = I64(a);
        int64_t *dst = I64(out);
        int bad = 0;
        Py_BEGIN_ALLOW_THREADS
        Py_ssize_t size = 0, head = 0, tail = 0;
        uint64_t added = 0, dropped = 0; /* sums of the queue's items in and out */
        int64_t last_bucket = 0, lowest = 0;
        int have_bucket = 0;
        for (Py_ssize_t p = 0; p < n; p++) {
            int64_t r = order[p];
            if (r < 0 || r >= rows) {
                bad = 1;
                break;
            }
            if (p > 0 && code[p] != code[p - 1]) {
                size = head = tail = 0;
                added = dropped = 0;
            }
            int64_t at = starts[r];
            while (size > 0 && heap[0].end <= at) {
                item_t x = heap_pop(heap, &size);
                queue[tail++] = x;
                added += (uint64_t)x.amount;
            }
            int64_t bucket = floor_div(at, step);
            if (!have_bucket || bucket != last_bucket) {
                /* the window's first instant: (bucket - span + 1) * step, wrapping as
                 * numpy's int64 does */
                lowest = (int64_t)(((uint64_t)bucket - (uint64_t)span + 1) * (uint64_t)step);
                last_bucket = bucket;
                have_bucket = 1;
            }
            while (head < tail && queue[head].end < lowest) {
                dropped += (uint64_t)queue[head].amount;
                head++;
            }
            dst[r] = (int64_t)(added - dropped);
            if (amounts[r] != 0) {
                item_t x = {ends[r], amounts[r]};
                heap_push(heap, &size, x);
            }
        }
        Py_END_ALLOW_THREADS
        free(heap);
        free(queue);
        if (bad) {
            PyErr_SetString(PyExc_IndexError, "ended_sums: order out of range");
            goto out;
        }
    }
    result = Py_None;
    Py_INCREF(result);
out:
    release_all(want, COUNT(want));
    return result;
}

/* -- keyed, in replay order ---------------------------------------------------------------- */

/* The same windows for small keys (0 <= key < keys), row by row in replay order with the
 * state of every key at once: a region of the key's row count per key (a queue of its
 * rows in the window, or a heap of its held ends), so every column is read in order and
 * only the keys' current places are touched (no grouping, no gathers). */

/* offsets[k] = where key k's region starts (sum of the counts before it); -1: bad key */
static int64_t *
regions(const int64_t *key, Py_ssize_t n, int64_t keys)
{
    int64_t *at = calloc((size_t)keys + 1, sizeof(int64_t));
    if (at == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (key[i] < 0 || key[i] >= keys) {
            at[keys] = -1;
            return at;
        }
        at[key[i] + 1]++;
    }
    for (int64_t k = 0; k < keys; k++)
        at[k + 1] += at[k];
    return at;
}

static PyObject *
scanwin_keyed_window_sums(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ok, *ob, *ow, *ospans, *oouts;
    long long keys;
    if (!PyArg_ParseTuple(args, "OLOOO!O!", &ok, &keys, &ob, &ow, &PyTuple_Type, &ospans,
                          &PyList_Type, &oouts))
        return NULL;
    if (keys < 1) {
        PyErr_SetString(PyExc_ValueError, "keyed_window_sums: 1 to 8 spans, one output each");
        return NULL;
    }
    int64_t spans[MAX_SPANS];
    Py_ssize_t nspans = get_spans(ospans, oouts, spans, "keyed_window_sums");
    if (nspans < 0)
        return NULL;
    buf_t k, b, w, outs[MAX_SPANS];
    Py_ssize_t held_outs = 0;
    w.held = 0;
    const want_t want[] = {
        {ok, &k, 8, ANY, 0, "key"},
        {ob, &b, 8, AS(0), 0, "buckets"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(k);
    int wbool;
    PyObject *result = NULL;
    if (get_weights(ow, &w, n, &wbool, "keyed_window_sums") < 0)
        goto out;
    for (; held_outs < nspans; held_outs++)
        if (get(PyList_GET_ITEM(oouts, held_outs), &outs[held_outs], 8, n, 1, "out") < 0)
            goto out;
    {
        const int64_t *key = I64(k), *bk = I64(b);
        const int64_t *wi = (ow != Py_None && !wbool) ? I64(w) : NULL;
        const unsigned char *wb = wbool ? (const unsigned char *)w.view.buf : NULL;
        int64_t *dst[MAX_SPANS];
        for (Py_ssize_t s = 0; s < nspans; s++)
            dst[s] = I64(outs[s]);
        int bad = 0, nomem = 0;
        Py_BEGIN_ALLOW_THREADS
        int64_t *at = regions(key, n, keys);
        /* per key: tail, sum of every weight queued, and per span its head and the sum
         * of the weights it dropped; the queue holds (bucket, weight) of weighted rows */
        int64_t *tail = malloc((size_t)keys * sizeof(int64_t));
        uint64_t *run = calloc((size_t)keys, sizeof(uint64_t));
        int64_t *head = malloc((size_t)keys * (size_t)nspans * sizeof(int64_t));
        uint64_t *gone = calloc((size_t)keys * (size_t)nspans, sizeof(uint64_t));
        item_t *queue = malloc(((size_t)n + 1) * sizeof(item_t));
        if (at == NULL || tail == NULL || run == NULL || head == NULL || gone == NULL
            || queue == NULL)
            nomem = 1;
        else if (at[keys] < 0)
            bad = 1;
        else {
            for (int64_t g = 0; g < keys; g++) {
                tail[g] = at[g];
                for (Py_ssize_t s = 0; s < nspans; s++)
                    head[g * nspans + s] = at[g];
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                int64_t g = key[i], bucket = bk[i];
                uint64_t wt = wi ? (uint64_t)wi[i] : wb ? (uint64_t)(wb[i] != 0) : 1;
                if (wt != 0) {
                    item_t x = {bucket, (int64_t)wt};
                    queue[tail[g]++] = x;
                    run[g] += wt;
                }
                for (Py_ssize_t s = 0; s < nspans; s++) {
                    int64_t *h = &head[g * nspans + s];
                    uint64_t *dropped = &gone[g * nspans + s];
                    while (*h < tail[g]
                           && (uint64_t)bucket - (uint64_t)queue[*h].end >= (uint64_t)spans[s]) {
                        *dropped += (uint64_t)queue[*h].amount;
                        (*h)++;
                    }
                    dst[s][i] = (int64_t)(run[g] - *dropped);
                }
            }
        }
        free(at);
        free(tail);
        free(run);
        free(head);
        free(gone);
        free(queue);
        Py_END_ALLOW_THREADS
        if (nomem) {
            PyErr_NoMemory();
            goto out;
        }
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "keyed_window_sums: a key out of range");
            goto out;
        }
    }
    result = Py_None;
    Py_INCREF(result);
out:
    for (Py_ssize_t s = 0; s < held_outs; s++)
        release(&outs[s]);
    release(&w);
    release_all(want, COUNT(want));
    return result;
}

static PyObject *
scanwin_keyed_in_progress(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ok, *os, *oe, *oh, *oout;
    long long keys;
    if (!PyArg_ParseTuple(args, "OLOOOO", &ok, &keys, &os, &oe, &oh, &oout))
        return NULL;
    if (keys < 1) {
        PyErr_SetString(PyExc_ValueError, "keyed_in_progress: keys must be >= 1");
        return NULL;
    }
    buf_t k, s, e, h, out;
    PyObject *result = NULL;
    const want_t want[] = {
        {ok, &k, 8, ANY, 0, "key"},
        {os, &s, 8, AS(0), 0, "starts"},
        {oe, &e, 8, AS(0), 0, "ends"},
        {oh, &h, 1, AS(0), 0, "holds"},
        {oout, &out, 8, AS(0), 1, "out"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(k);
    {
        const int64_t *key = I64(k), *starts = I64(s), *ends = I64(e);
        const unsigned char *holds = (const unsigned char *)h.view.buf;
        int64_t *dst = I64(out);
        int bad = 0, nomem = 0;
        Py_BEGIN_ALLOW_THREADS
        int64_t *at = regions(key, n, keys);
        Py_ssize_t *size = calloc((size_t)keys, sizeof(Py_ssize_t));
        int64_t *heaps = malloc(((size_t)n + 1) * sizeof(int64_t));
        if (at == NULL || size == NULL || heaps == NULL)
            nomem = 1;
        else if (at[keys] < 0)
            bad = 1;
        else {
            for (Py_ssize_t i = 0; i < n; i++) {
                int64_t g = key[i], now = starts[i];
                int64_t *heap = heaps + at[g];
                Py_ssize_t m = size[g];
                while (m > 0 && heap[0] <= now) { /* pop the earliest end */
                    int64_t last = heap[--m];
                    Py_ssize_t j = 0;
                    for (;;) {
                        Py_ssize_t c = 2 * j + 1;
                        if (c >= m)
                            break;
                        if (c + 1 < m && heap[c + 1] < heap[c])
                            c++;
                        if (heap[c] >= last)
                            break;
                        heap[j] = heap[c];
                        j = c;
                    }
                    if (m > 0)
                        heap[j] = last;
                }
                dst[i] = (int64_t)m;
                if (holds[i] && ends[i] > now) { /* a call of no length ends at once */
                    int64_t x = ends[i];
                    Py_ssize_t j = m++;
                    while (j > 0) {
                        Py_ssize_t parent = (j - 1) / 2;
                        if (heap[parent] <= x)
                            break;
                        heap[j] = heap[parent];
                        j = parent;
                    }
                    heap[j] = x;
                }
                size[g] = m;
            }
        }
        free(at);
        free(size);
        free(heaps);
        Py_END_ALLOW_THREADS
        if (nomem) {
            PyErr_NoMemory();
            goto out;
        }
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "keyed_in_progress: a key out of range");
            goto out;
        }
    }
    result = Py_None;
    Py_INCREF(result);
out:
    release_all(want, COUNT(want));
    return result;
}

static PyObject *
scanwin_codes(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ok, *oout;
    if (!PyArg_ParseTuple(args, "OO", &ok, &oout))
        return NULL;
    buf_t k, out;
    const want_t want[] = {
        {ok, &k, 8, ANY, 0, "key"},
        {oout, &out, 8, AS(0), 1, "out"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(k);
    Py_ssize_t groups;
    Py_BEGIN_ALLOW_THREADS
    groups = number_groups(I64(k), n, I64(out));
    Py_END_ALLOW_THREADS
    release_all(want, COUNT(want));
    if (groups < 0)
        return PyErr_NoMemory();
    return PyLong_FromSsize_t(groups);
}

static PyObject *
scanwin_keyed_ended_sums(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ok, *os, *oe, *oa, *oout;
    long long keys, span, step;
    if (!PyArg_ParseTuple(args, "OLOOOLLO", &ok, &keys, &os, &oe, &oa, &span, &step, &oout))
        return NULL;
    if (keys < 1 || step < 1 || span < 1) {
        PyErr_SetString(PyExc_ValueError, "keyed_ended_sums: keys, span and step must be >= 1");
        return NULL;
    }
    buf_t k, s, e, a, out;
    PyObject *result = NULL;
    const want_t want[] = {
        {ok, &k, 8, ANY, 0, "key"},
        {os, &s, 8, AS(0), 0, "starts"},
        {oe, &e, 8, AS(0), 0, "ends"},
        {oa, &a, 8, AS(0), 0, "amounts"},
        {oout, &out, 8, AS(0), 1, "out"},
    };
    if (get_all(want, COUNT(want)) < 0)
        return NULL;
    Py_ssize_t n = LEN(k);
    {
        const int64_t *key = I64(k), *starts = I64(s), *ends = I64(e), *amounts = I64(a);
        int64_t *dst = I64(out);
        int bad = 0, nomem = 0;
        Py_BEGIN_ALLOW_THREADS
        int64_t *at = regions(key, n, keys);
        /* per key: its heap of pending ends (size), its queue of ended ones (head, tail)
         * and the sums of the amounts queued and dropped */
        Py_ssize_t *size = calloc((size_t)keys, sizeof(Py_ssize_t));
        int64_t *head = calloc((size_t)keys, sizeof(int64_t));
        int64_t *tail = calloc((size_t)keys, sizeof(int64_t));
        uint64_t *added = calloc((size_t)keys, sizeof(uint64_t));
        uint64_t *dropped = calloc((size_t)keys, sizeof(uint64_t));
        item_t *heaps = malloc(((size_t)n + 1) * sizeof(item_t));
        item_t *queues = malloc(((size_t)n + 1) * sizeof(item_t));
        if (at == NULL || size == NULL || head == NULL || tail == NULL || added == NULL
            || dropped == NULL || heaps == NULL || queues == NULL)
            nomem = 1;
        else if (at[keys] < 0)
            bad = 1;
        else {
            for (Py_ssize_t i = 0; i < n; i++) {
                int64_t g = key[i], now = starts[i];
                item_t *heap = heaps + at[g], *queue = queues + at[g];
                Py_ssize_t m = size[g];
                while (m > 0 && heap[0].end <= now) {
                    item_t x = heap_pop(heap, &m);
                    queue[tail[g]++] = x;
                    added[g] += (uint64_t)x.amount;
                }
                size[g] = m;
                int64_t lowest = (int64_t)(((uint64_t)floor_div(now, step) - (uint64_t)span + 1)
                                           * (uint64_t)step);
                while (head[g] < tail[g] && queue[head[g]].end < lowest) {
                    dropped[g] += (uint64_t)queue[head[g]].amount;
                    head[g]++;
                }
                dst[i] = (int64_t)(added[g] - dropped[g]);
                if (amounts[i] != 0) {
                    item_t x = {ends[i], amounts[i]};
                    heap_push(heap, &size[g], x);
                }
            }
        }
        free(at);
        free(size);
        free(head);
        free(tail);
        free(added);
        free(dropped);
        free(heaps);
        free(queues);
        Py_END_ALLOW_THREADS
        if (nomem) {
            PyErr_NoMemory();
            goto out;
        }
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "keyed_ended_sums: a key out of range");
            goto out;
        }
    }
    result = Py_None;
    Py_INCREF(result);
out:
    release_all(want, COUNT(want));
    return result;
}

/* -- numbers --------------------------------------------------------------------------- */

static PyObject *
scanwin_digits(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *oo, *od, *onum, *olen;
    if (!PyArg_ParseTuple(args, "OOOO", &oo, &od, &onum, &olen))
        return NULL;
    Py_buffer off;
    buf_t data, num, len;
    if (PyObject_GetBuffer(oo, &off, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    Py_ssize_t n = off.ndim == 1 ? (Py_ssize_t)off.shape[0] - 1 : -1;
    if (n < 0 || (off.itemsize != 4 && off.itemsize != 8)) {
        PyBuffer_Release(&off);
        PyErr_SetString(PyExc_ValueError, "digits: offsets are n + 1 int32 or int64");
        return NULL;
    }
    const want_t want[] = {
        {od, &data, 1, ANY, 0, "data"},
        {onum, &num, 8, n, 1, "number"},
        {olen, &len, 8, n, 1, "length"},
    };
    if (get_all(want, COUNT(want)) < 0) {
        PyBuffer_Release(&off);
        return NULL;
    }
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *bytes = (const unsigned char *)data.view.buf;
    int64_t size = (int64_t)LEN(data);
    const int32_t *o32 = off.itemsize == 4 ? (const int32_t *)off.buf : NULL;
    const int64_t *o64 = off.itemsize == 8 ? (const int64_t *)off.buf : NULL;
    int64_t *number = I64(num), *length = I64(len);
    for (Py_ssize_t i = 0; i < n && ok; i++) {
        int64_t a = o32 ? o32[i] : o64[i], b = o32 ? o32[i + 1] : o64[i + 1];
        if (a < 0 || b < a || b > size || b - a < 1 || b - a > 18) {
            ok = 0;
            break;
        }
        int64_t v = 0;
        for (int64_t j = a; j < b; j++) {
            unsigned d = (unsigned)bytes[j] - '0';
            if (d > 9) {
                ok = 0;
                break;
            }
            v = v * 10 + (int64_t)d;
        }
        number[i] = v;
        length[i] = b - a;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&off);
    release_all(want, COUNT(want));
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"group", scanwin_group, METH_VARARGS, "group(key, order, code, first) -> groups"},
    {"window_sums", scanwin_window_sums, METH_VARARGS,
     "window_sums(order, code, buckets, weights, spans, outs, grouped)"},
    {"in_progress", scanwin_in_progress, METH_VARARGS,
     "in_progress(order, code, starts, ends, holds, out, grouped)"},
    {"ended_sums", scanwin_ended_sums, METH_VARARGS,
     "ended_sums(order, code, starts, ends, amounts, span, step, out)"},
    {"keyed_window_sums", scanwin_keyed_window_sums, METH_VARARGS,
     "keyed_window_sums(key, keys, buckets, weights, spans, outs)"},
    {"keyed_in_progress", scanwin_keyed_in_progress, METH_VARARGS,
     "keyed_in_progress(key, keys, starts, ends, holds, out)"},
    {"keyed_ended_sums", scanwin_keyed_ended_sums, METH_VARARGS,
     "keyed_ended_sums(key, keys, starts, ends, amounts, span, step, out)"},
    {"codes", scanwin_codes, METH_VARARGS, "codes(key, out) -> groups"},
    {"digits", scanwin_digits, METH_VARARGS, "digits(offsets, data, number, length) -> ok"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scanwin", "The window counters of tandem fraud scan in C.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__scanwin(void)
{
    return PyModule_Create(&module);
}
