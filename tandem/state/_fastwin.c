/* The loop of MemoryCounters.run_program in C, its windows, and the fraud rules' key maker
 * (optional: tandem/state/memory.py and tandem/fraud/compiled.py run the same in Python
 * when this extension is not built, and the tests run both on the same random operations:
 * tests/state/test_fastwin.py, tests/test_fraud_compiled.py).
 *
 * run(program, keys, at, slots, hooks, bounds) -> list | (list, bool) | None
 *
 * Each program entry is prepared by MemoryCounters._prepare: (kind, windows, amount, n,
 * step, window), its table's parts read once. Kind 0 counts the live slots under the key
 * (slots[key].live(at)), 1 adds amount to the key's window and answers its total, 2
 * answers its total. The windows this loop makes are Window objects (below: the numbers
 * inline as C integers, the items those of MemoryCounters' flat list [sum, first, last,
 * due, bucket, amount, ...]); a window made by the Python loop is that list. The common
 * cases (a bucket leaving, the latest bucket, a new latest bucket, a total) are done here;
 * the rest calls the Python helpers in hooks = (new_window, evict, add, total, push,
 * counted) on the list (a Window is first turned into its list), so that both paths share
 * them. Every answer is exact: numbers that leave 64 bits turn the window into its list
 * of Python ints.
 *
 * Returns None, having changed nothing, when `at` is neither an int below 2**53 in
 * magnitude nor a finite float (the Python loop then runs). With bounds (a tuple, one
 * per entry), returns (answers, whether an answer is above its bound).
 *
 * The caller holds MemoryCounters' lock.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static PyObject *str_live;
static PyObject *WINDOW_TAG; /* _WINDOW in memory.py: 1 */
static PyObject *ONE;

/* floor(at / step) as MemoryCounters computes it (at: int below 2**53, or float) */
static PyObject *
bucket_of(int at_is_int, long long at_ll, double at_d, PyObject *step_obj)
{
    long long step = PyLong_AsLongLong(step_obj);
    if (step == -1 && PyErr_Occurred())
        return NULL;
    if (step <= 0) {
        PyErr_SetString(PyExc_ValueError, "window step must be positive");
        return NULL;
    }
    if (at_is_int) {
        long long q = at_ll / step, r = at_ll % step;
        if (r != 0 && ((r < 0) != (step < 0)))
            q -= 1;
        return PyLong_FromLongLong(q);
    }
    return PyLong_FromDouble(floor(at_d / (double)step));
}

static int
set_item(PyObject *w, Py_ssize_t i, PyObject *value) /* steals value */
{
    if (value == NULL)
        return -1;
    return PyList_SetItem(w, i, value); /* steals; decrefs the old item */
}

/* One operation the general way (every number a Python object): the common cases here,
 * the rest through the Python helpers. Returns the answer (a new reference) or NULL. */
static PyObject *
general_op(long kind, PyObject *windows, PyObject *key, PyObject *amount, PyObject *n,
           PyObject *step, PyObject *window, int at_is_int, long long at_ll, double at_d,
           PyObject *hooks)
{
    PyObject *new_window = PyTuple_GET_ITEM(hooks, 0), *evict = PyTuple_GET_ITEM(hooks, 1),
             *add = PyTuple_GET_ITEM(hooks, 2), *total = PyTuple_GET_ITEM(hooks, 3),
             *push = PyTuple_GET_ITEM(hooks, 4);
    PyObject *answer = NULL, *tmp = NULL, *tmp2 = NULL, *oldest = NULL;
    PyObject *b = bucket_of(at_is_int, at_ll, at_d, step);
    if (b == NULL)
        return NULL;
    PyObject *w = PyDict_GetItemWithError(windows, key); /* borrowed */
    if (w == NULL) {
        if (PyErr_Occurred())
            goto fail_b;
        if (kind == 2) {
            Py_DECREF(b);
            return PyLong_FromLong(0);
        }
        w = PyObject_CallFunctionObjArgs(new_window, windows, key, b, NULL);
        if (w == NULL)
            goto fail_b;
        Py_DECREF(w); /* the dict holds it */
    }
    if (!PyList_CheckExact(w) || PyList_GET_SIZE(w) < 4) {
        PyErr_SetString(PyExc_TypeError, "a window is a list");
        goto fail_b;
    }
    Py_INCREF(w);
    /* a bucket may have left the window: first <= b - n */
    tmp = PyNumber_Subtract(b, n);
    if (tmp == NULL)
        goto fail;
    int left = PyObject_RichCompareBool(PyList_GET_ITEM(w, 1), tmp, Py_LE);
    if (left < 0)
        goto fail;
    if (left) {
        oldest = PyNumber_Add(tmp, ONE);
        if (oldest == NULL)
            goto fail;
        tmp2 = PyObject_CallFunctionObjArgs(evict, w, oldest, NULL);
        Py_CLEAR(oldest);
        if (tmp2 == NULL)
            goto fail;
        Py_CLEAR(tmp2);
    }
    Py_CLEAR(tmp);
    if (kind == 1) {
        Py_ssize_t size = PyList_GET_SIZE(w);
        int latest = 0, newer = 0;
        if (size > 4) {
            latest = PyObject_RichCompareBool(PyList_GET_ITEM(w, 2), b, Py_EQ);
            if (latest < 0)
                goto fail;
            if (!latest) {
                newer = PyObject_RichCompareBool(b, PyList_GET_ITEM(w, 2), Py_GT);
                if (newer < 0)
                    goto fail;
            }
        } else {
            newer = 1;
        }
        if (latest) { /* the latest bucket: the common case */
            if (set_item(w, size - 1, PyNumber_Add(PyList_GET_ITEM(w, size - 1), amount)) < 0)
                goto fail;
            if (set_item(w, 0, PyNumber_Add(PyList_GET_ITEM(w, 0), amount)) < 0)
                goto fail;
            answer = PyList_GET_ITEM(w, 0);
            Py_INCREF(answer);
            goto done;
        }
        if (newer) { /* a new latest bucket (_add's first case) */
            if (set_item(w, 0, PyNumber_Add(PyList_GET_ITEM(w, 0), amount)) < 0)
                goto fail;
            if (PyList_Append(w, b) < 0 || PyList_Append(w, amount) < 0)
                goto fail;
            Py_INCREF(b);
            if (set_item(w, 2, b) < 0)
                goto fail;
            int below = PyObject_RichCompareBool(b, PyList_GET_ITEM(w, 1), Py_LT);
            if (below < 0)
                goto fail;
            if (below) {
                Py_INCREF(b);
                if (set_item(w, 1, b) < 0)
                    goto fail;
            }
        } else { /* an earlier bucket: the Python helper */
            tmp2 = PyObject_CallFunctionObjArgs(add, w, b, amount, NULL);
            if (tmp2 == NULL)
                goto fail;
            newer = PyObject_IsTrue(tmp2);
            Py_CLEAR(tmp2);
            if (newer < 0)
                goto fail;
        }
        if (newer) { /* due: (b + n) * step; one due entry per window, when new */
            PyObject *due = PyList_GET_ITEM(w, 3);
            int fresh = PyFloat_Check(due) && isinf(PyFloat_AS_DOUBLE(due)) &&
                        PyFloat_AS_DOUBLE(due) < 0;
            tmp = PyNumber_Add(b, n);
            if (tmp == NULL)
                goto fail;
            tmp2 = PyNumber_Multiply(tmp, step);
            Py_CLEAR(tmp);
            if (tmp2 == NULL)
                goto fail;
            Py_INCREF(tmp2);
            if (set_item(w, 3, tmp2) < 0)
                goto fail;
            if (fresh) {
                PyObject *where = PyTuple_Pack(3, key, window, step);
                PyObject *entry = where ? PyTuple_Pack(3, tmp2, WINDOW_TAG, where) : NULL;
                Py_XDECREF(where);
                if (entry == NULL)
                    goto fail;
                PyObject *r = PyObject_CallOneArg(push, entry);
                Py_DECREF(entry);
                if (r == NULL)
                    goto fail;
                Py_DECREF(r);
            }
            Py_CLEAR(tmp2);
        }
    }
    /* the total at b: the sum unless a later bucket is held */
    {
        int later = PyList_GET_SIZE(w) > 4
                        ? PyObject_RichCompareBool(PyList_GET_ITEM(w, 2), b, Py_GT)
                        : 0;
        if (later < 0)
            goto fail;
        if (later) {
            answer = PyObject_CallFunctionObjArgs(total, w, b, NULL);
            if (answer == NULL)
                goto fail;
        } else {
            answer = PyList_GET_ITEM(w, 0);
            Py_INCREF(answer);
        }
    }
done:
    Py_DECREF(w);
    Py_DECREF(b);
    return answer;
fail:
    Py_DECREF(w);
fail_b:
    Py_DECREF(b);
    Py_XDECREF(tmp);
    Py_XDECREF(tmp2);
    Py_XDECREF(oldest);
    return NULL;
}

/* A small exact int's value read from its digits (CPython 3.11's int layout: one 30-bit
 * digit or none); 0 when it is not one (the caller then converts the general way). */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
static inline int
small_ll(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o))
        return 0;
    Py_ssize_t size = Py_SIZE(o);
    if (size == 0)
        *out = 0;
    else if (size == 1)
        *out = (long long)((PyLongObject *)o)->ob_digit[0];
    else if (size == -1)
        *out = -(long long)((PyLongObject *)o)->ob_digit[0];
    else
        return 0;
    return 1;
}
#else
static inline int
small_ll(PyObject *o, long long *out)
{
    (void)o;
    (void)out;
    return 0;
}
#endif

/* PyLong_AsLong and PyLong_AsSsize_t, small ints read directly (the same answers and
 * errors) */
static inline long
as_long(PyObject *o)
{
    long long v;
    return small_ll(o, &v) ? (long)v : PyLong_AsLong(o);
}

static inline Py_ssize_t
as_ssize(PyObject *o)
{
    long long v;
    return small_ll(o, &v) ? (Py_ssize_t)v : PyLong_AsSsize_t(o);
}

/* A Python int as a C long long; 0 when it is not an int or does not fit (no error set). */
static int
as_ll(PyObject *o, long long *out)
{
    if (small_ll(o, out))
        return 1;
    if (!PyLong_CheckExact(o))
        return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

#define LIMIT (1LL << 61) /* bucket numbers, n and step within it: sums never overflow */

/* ---- Window: one sliding window with its numbers inline (C integers) ----
 *
 * The windows the C loop makes are Window objects rather than MemoryCounters' flat
 * lists: the same fields ([sum, first, last, due, bucket, amount, ...], read through the
 * sequence protocol, so list(w) is the list the Python loop would hold) but in one
 * object, without a Python int per number: a cold window costs one or two cache misses
 * instead of one per object. A window whose numbers leave 64 bits, or that needs what
 * only the Python helpers do (an add to an earlier bucket), is turned into the list
 * (list(w)) in its table and goes on as one, so every answer stays exact.
 */
#define INLINE_PAIRS 2

typedef struct {
    PyObject_HEAD
    long long sum, first, last, due;
    int has_due;              /* 0: due is -inf (no bucket held yet) */
    Py_ssize_t np, cap;       /* buckets held, room */
    long long *pairs;         /* bucket, amount, ... ascending; inline or malloc-ed */
    long long inline_pairs[2 * INLINE_PAIRS];
} WindowObject;

static PyTypeObject WindowType;

static PyObject *
window_new_at(long long b)
{
    WindowObject *w = PyObject_New(WindowObject, &WindowType);
    if (w == NULL)
        return NULL;
    w->sum = 0;
    w->first = b;
    w->last = b;
    w->due = 0;
    w->has_due = 0;
    w->np = 0;
    w->cap = INLINE_PAIRS;
    w->pairs = w->inline_pairs;
    return (PyObject *)w;
}

static void
window_dealloc(WindowObject *w)
{
    if (w->pairs != w->inline_pairs)
        PyMem_Free(w->pairs);
    PyObject_Free(w);
}

static Py_ssize_t
window_length(WindowObject *w)
{
    return 4 + 2 * w->np;
}

static PyObject *
window_item(WindowObject *w, Py_ssize_t i)
{
    if (i < 0 || i >= 4 + 2 * w->np) {
        PyErr_SetString(PyExc_IndexError, "window index out of range");
        return NULL;
    }
    switch (i) {
    case 0:
        return PyLong_FromLongLong(w->sum);
    case 1:
        return PyLong_FromLongLong(w->first);
    case 2:
        return PyLong_FromLongLong(w->last);
    case 3:
        return w->has_due ? PyLong_FromLongLong(w->due) : PyFloat_FromDouble(-INFINITY);
    default:
        return PyLong_FromLongLong(w->pairs[i - 4]);
    }
}

static PySequenceMethods window_as_sequence = {
    .sq_length = (lenfunc)window_length,
    .sq_item = (ssizeargfunc)window_item,
};

static PyTypeObject WindowType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tandem.state._fastwin.Window",
    .tp_basicsize = sizeof(WindowObject),
    .tp_dealloc = (destructor)window_dealloc,
    .tp_as_sequence = &window_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One sliding window of MemoryCounters, its numbers inline (list(w): the "
              "flat list the Python loop holds).",
};

/* The window as MemoryCounters' flat list, put in its place in the table. 0 or -1. */
static int
window_to_list(PyObject *windows, PyObject *key, WindowObject *w)
{
    Py_ssize_t size = 4 + 2 * w->np;
    PyObject *list = PyList_New(size);
    if (list == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *item = window_item(w, i);
        if (item == NULL) {
            Py_DECREF(list);
            return -1;
        }
        PyList_SET_ITEM(list, i, item);
    }
    int r = PyDict_SetItem(windows, key, list); /* frees w: not to be used after */
    Py_DECREF(list);
    return r;
}

/* An operation on a Window (see fast_op). Returns the answer, NULL on error, or Py_None
 * (borrowed) when the window was turned into a list for the general way. */
static PyObject *
window_op(long kind, PyObject *windows, PyObject *key, WindowObject *w, PyObject *amount,
          long long n, long long step, PyObject *window, PyObject *step_obj, long long b,
          PyObject *hooks)
{
    long long a = 0;
    if (kind == 1 && !as_ll(amount, &a))
        goto as_list;
    if (w->first <= b - n) { /* drop the buckets before the oldest one in the window */
        long long oldest = b - n + 1, sum = w->sum;
        Py_ssize_t i = 0;
        while (i < w->np && w->pairs[2 * i] < oldest) {
            if (__builtin_sub_overflow(sum, w->pairs[2 * i + 1], &sum))
                goto as_list;
            i++;
        }
        if (i) {
            memmove(w->pairs, w->pairs + 2 * i, (size_t)(w->np - i) * 2 * sizeof(long long));
            w->np -= i;
        }
        w->sum = sum;
        w->first = oldest;
    }
    if (kind == 1) {
        long long sum;
        if (__builtin_add_overflow(w->sum, a, &sum))
            goto as_list;
        if (w->np > 0 && w->last == b) { /* the latest bucket: the common case */
            long long *latest = &w->pairs[2 * w->np - 1];
            long long value;
            if (__builtin_add_overflow(*latest, a, &value))
                goto as_list;
            *latest = value;
            w->sum = sum;
        } else if (w->np == 0 || b > w->last) { /* a new latest bucket */
            long long due;
            if (__builtin_add_overflow(b, n, &due) || __builtin_mul_overflow(due, step, &due))
                goto as_list;
            if (w->np == w->cap) {
                Py_ssize_t cap = 2 * w->cap;
                long long *pairs = PyMem_Malloc((size_t)cap * 2 * sizeof(long long));
                if (pairs == NULL) {
                    PyErr_NoMemory();
                    return NULL;
                }
                memcpy(pairs, w->pairs, (size_t)w->np * 2 * sizeof(long long));
                if (w->pairs != w->inline_pairs)
                    PyMem_Free(w->pairs);
                w->pairs = pairs;
                w->cap = cap;
            }
            w->pairs[2 * w->np] = b;
            w->pairs[2 * w->np + 1] = a;
            w->np++;
            w->last = b;
            if (b < w->first)
                w->first = b;
            w->sum = sum;
            int fresh = !w->has_due;
            w->due = due;
            w->has_due = 1;
            if (fresh) { /* one due entry per window, when new */
                PyObject *dueo = PyLong_FromLongLong(due);
                PyObject *where = dueo ? PyTuple_Pack(3, key, window, step_obj) : NULL;
                PyObject *entry = where ? PyTuple_Pack(3, dueo, WINDOW_TAG, where) : NULL;
                Py_XDECREF(where);
                Py_XDECREF(dueo);
                if (entry == NULL)
                    return NULL;
                PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(hooks, 4), entry);
                Py_DECREF(entry);
                if (r == NULL)
                    return NULL;
                Py_DECREF(r);
            }
        } else { /* an earlier bucket: the general way */
            goto as_list;
        }
        return PyLong_FromLongLong(w->sum);
    }
    /* the total at b: the sum less the buckets after b */
    long long total = w->sum;
    if (w->np > 0 && w->last > b) {
        for (Py_ssize_t i = w->np - 1; i >= 0 && w->pairs[2 * i] > b; i--)
            if (__builtin_sub_overflow(total, w->pairs[2 * i + 1], &total))
                goto as_list;
    }
    return PyLong_FromLongLong(total);
as_list:
    if (window_to_list(windows, key, w) < 0)
        return NULL;
    return Py_None;
}

/* The common cases with C integers: a window that holds no bucket older than the window
 * and is added to at its latest bucket or at a new latest one, or read up to its latest
 * bucket. Returns the answer (new reference), NULL on error, or Py_None (borrowed, not
 * an answer) when the general way must run (nothing changed). */
static PyObject *
fast_op(long kind, PyObject *windows, PyObject *key, PyObject *amount, long long n,
        long long step, PyObject *window, PyObject *step_obj, long long b, PyObject *hooks)
{
    PyObject *w = PyDict_GetItemWithError(windows, key); /* borrowed */
    PyObject *bo = NULL;
    if (w == NULL) {
        if (PyErr_Occurred())
            return NULL;
        if (kind == 2)
            return PyLong_FromLong(0);
        /* a new window: a Window object (counted by the hook) */
        w = window_new_at(b);
        if (w == NULL)
            return NULL;
        int r = PyDict_SetItem(windows, key, w);
        Py_DECREF(w); /* the dict holds it */
        if (r < 0)
            return NULL;
        PyObject *counted = PyObject_CallNoArgs(PyTuple_GET_ITEM(hooks, 5));
        if (counted == NULL)
            return NULL;
        Py_DECREF(counted);
    }
    if (Py_IS_TYPE(w, &WindowType))
        return window_op(kind, windows, key, (WindowObject *)w, amount, n, step, window,
                         step_obj, b, hooks);
    if (!PyList_CheckExact(w) || PyList_GET_SIZE(w) < 4) {
        PyErr_SetString(PyExc_TypeError, "a window is a list");
        goto fail;
    }
    long long first, last;
    if (!as_ll(PyList_GET_ITEM(w, 1), &first) || !as_ll(PyList_GET_ITEM(w, 2), &last) ||
        first <= b - n) { /* a bucket may leave the window: the general way */
        Py_XDECREF(bo);
        return Py_None;
    }
    Py_ssize_t size = PyList_GET_SIZE(w);
    PyObject *answer;
    if (kind == 1) {
        if (size > 4 && last == b) { /* the latest bucket: the common case */
            if (set_item(w, size - 1, PyNumber_Add(PyList_GET_ITEM(w, size - 1), amount)) < 0)
                goto fail;
            if (set_item(w, 0, PyNumber_Add(PyList_GET_ITEM(w, 0), amount)) < 0)
                goto fail;
        } else if (size == 4 || b > last) { /* a new latest bucket */
            if (bo == NULL && (bo = PyLong_FromLongLong(b)) == NULL)
                goto fail;
            if (set_item(w, 0, PyNumber_Add(PyList_GET_ITEM(w, 0), amount)) < 0)
                goto fail;
            if (PyList_Append(w, bo) < 0 || PyList_Append(w, amount) < 0)
                goto fail;
            Py_INCREF(bo);
            if (set_item(w, 2, bo) < 0)
                goto fail;
            if (b < first) {
                Py_INCREF(bo);
                if (set_item(w, 1, bo) < 0)
                    goto fail;
            }
            PyObject *due = PyList_GET_ITEM(w, 3);
            int fresh = PyFloat_Check(due) && isinf(PyFloat_AS_DOUBLE(due)) &&
                        PyFloat_AS_DOUBLE(due) < 0;
            long long d;
            PyObject *dueo;
            if (!__builtin_mul_overflow(b + n, step, &d))
                dueo = PyLong_FromLongLong(d);
            else { /* beyond 64 bits: Python ints */
                PyObject *nn = PyLong_FromLongLong(b + n);
                dueo = nn ? PyNumber_Multiply(nn, step_obj) : NULL;
                Py_XDECREF(nn);
            }
            if (dueo == NULL)
                goto fail;
            Py_INCREF(dueo);
            if (set_item(w, 3, dueo) < 0) {
                Py_DECREF(dueo);
                goto fail;
            }
            if (fresh) { /* one due entry per window, when new */
                PyObject *where = PyTuple_Pack(3, key, window, step_obj);
                PyObject *entry = where ? PyTuple_Pack(3, dueo, WINDOW_TAG, where) : NULL;
                Py_XDECREF(where);
                Py_DECREF(dueo);
                if (entry == NULL)
                    goto fail;
                PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(hooks, 4), entry);
                Py_DECREF(entry);
                if (r == NULL)
                    goto fail;
                Py_DECREF(r);
            } else {
                Py_DECREF(dueo);
            }
        } else { /* an earlier bucket: the general way */
            Py_XDECREF(bo);
            return Py_None;
        }
    } else if (size > 4 && last > b) { /* a later bucket held: the general way */
        Py_XDECREF(bo);
        return Py_None;
    }
    Py_XDECREF(bo);
    answer = PyList_GET_ITEM(w, 0);
    Py_INCREF(answer);
    return answer;
fail:
    Py_XDECREF(bo);
    return NULL;
}

static PyObject *
fastwin_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "run(program, keys, at, slots, hooks, bounds)");
        return NULL;
    }
    PyObject *program = args[0], *keys = args[1], *at = args[2], *slots = args[3],
             *hooks = args[4], *bounds = args[5];
    if (!PyTuple_Check(program) || !PyList_Check(keys) || !PyDict_Check(slots) ||
        !PyTuple_Check(hooks)) {
        PyErr_SetString(PyExc_TypeError,
                        "run(program: tuple, keys: list, at, slots: dict, hooks: tuple, bounds)");
        return NULL;
    }
    int at_is_int = 0;
    long long at_ll = 0;
    double at_d = 0.0;
    if (PyLong_CheckExact(at)) {
        int overflow = 0;
        at_ll = PyLong_AsLongLongAndOverflow(at, &overflow);
        if (overflow || at_ll <= -(1LL << 53) || at_ll >= (1LL << 53)) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        at_is_int = 1;
    } else if (PyFloat_CheckExact(at)) {
        at_d = PyFloat_AS_DOUBLE(at);
        if (!isfinite(at_d))
            Py_RETURN_NONE;
    } else {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(program);
    if (PyList_GET_SIZE(keys) != count) {
        PyErr_SetString(PyExc_ValueError, "one key per operation");
        return NULL;
    }
    if (PyTuple_GET_SIZE(hooks) != 6) {
        PyErr_SetString(PyExc_ValueError,
                        "hooks: (new_window, evict, add, total, push, counted)");
        return NULL;
    }
    int graded = bounds != Py_None;
    if (graded && (!PyTuple_Check(bounds) || PyTuple_GET_SIZE(bounds) != count)) {
        PyErr_SetString(PyExc_ValueError, "bounds: a tuple, one per operation");
        return NULL;
    }
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    int over = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *op = PyTuple_GET_ITEM(program, i);
        PyObject *key = PyList_GET_ITEM(keys, i);
        /* a prepared operation: (kind, windows, amount, n, step, window) */
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 6) {
            PyErr_SetString(PyExc_ValueError,
                            "an operation is (kind, windows, amount, n, step, window)");
            goto fail;
        }
        long kind = as_long(PyTuple_GET_ITEM(op, 0));
        if (kind == -1 && PyErr_Occurred())
            goto fail;
        PyObject *answer = NULL;
        if (kind == 0) {
            PyObject *s = PyDict_GetItemWithError(slots, key); /* borrowed */
            if (s == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                answer = PyLong_FromLong(0);
            } else {
                answer = PyObject_CallMethodOneArg(s, str_live, at);
            }
        } else {
            PyObject *windows = PyTuple_GET_ITEM(op, 1), *amount = PyTuple_GET_ITEM(op, 2),
                     *n_obj = PyTuple_GET_ITEM(op, 3), *step_obj = PyTuple_GET_ITEM(op, 4),
                     *window = PyTuple_GET_ITEM(op, 5);
            if (!PyDict_Check(windows)) {
                PyErr_SetString(PyExc_TypeError, "table.windows must be a dict");
                goto fail;
            }
            long long n, step, b = 0;
            int fast = as_ll(n_obj, &n) && as_ll(step_obj, &step) && step > 0 && n > 0 &&
                       n < LIMIT && step < LIMIT;
            if (fast) {
                if (at_is_int) {
                    long long q = at_ll / step, r = at_ll % step;
                    if (r != 0 && r < 0)
                        q -= 1;
                    b = q;
                } else {
                    double q = floor(at_d / (double)step);
                    fast = q > -(double)LIMIT && q < (double)LIMIT;
                    b = fast ? (long long)q : 0;
                }
            }
            answer = fast ? fast_op(kind, windows, key, amount, n, step, window, step_obj, b,
                                    hooks)
                          : Py_None;
            if (answer == Py_None) /* borrowed marker: the general way */
                answer = general_op(kind, windows, key, amount, n_obj, step_obj, window,
                                    at_is_int, at_ll, at_d, hooks);
        }
        if (answer == NULL)
            goto fail;
        if (graded && !over) {
            PyObject *bound = PyTuple_GET_ITEM(bounds, i);
            int above = -2; /* -2: not settled in C integers and doubles */
            if (PyLong_CheckExact(answer)) {
                int overflow = 0;
                long long v, q;
                if (!small_ll(answer, &v)) {
                    v = PyLong_AsLongLongAndOverflow(answer, &overflow);
                    if (PyErr_Occurred()) { /* (an exact int raises nothing) */
                        PyErr_Clear();
                        overflow = 1;
                    }
                }
                if (!overflow && v > -(1LL << 53) && v < (1LL << 53)) {
                    if (PyFloat_CheckExact(bound)) /* exact: v is a double; NaN: False */
                        above = (double)v > PyFloat_AS_DOUBLE(bound);
                    else if (small_ll(bound, &q))
                        above = v > q;
                    else if (PyLong_CheckExact(bound)) {
                        q = PyLong_AsLongLongAndOverflow(bound, &overflow);
                        if (!overflow && !(q == -1 && PyErr_Occurred()))
                            above = v > q;
                        else if (overflow) /* beyond 64 bits: above v or below it */
                            above = overflow < 0;
                        if (PyErr_Occurred())
                            PyErr_Clear();
                    }
                }
            }
            if (above == -2)
                above = PyObject_RichCompareBool(answer, bound, Py_GT);
            if (above < 0) {
                Py_DECREF(answer);
                goto fail;
            }
            over = above;
        }
        PyList_SET_ITEM(out, i, answer); /* steals */
    }
    if (graded) {
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyObject *flag = over ? Py_True : Py_False;
        Py_INCREF(flag);
        PyTuple_SET_ITEM(pair, 0, out);
        PyTuple_SET_ITEM(pair, 1, flag);
        return pair;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* ---- A decision's counter keys (tandem/fraud/compiled.py's generated build, in C) ----
 *
 * keys(spec, fallback, facts, K) -> (variant, keys)
 *
 * ``spec`` is the rule set's key recipe, a tuple of steps (made by Compiled, which also
 * writes the same recipe as Python source: ``fallback``, run instead when a fact has a
 * type the recipe does not take); ``facts`` a CallFacts, ``K`` the customer's keys:
 *
 *   (0, k)                       K[k]
 *   (1, field, bit, fn, scope[, head])
 *                                if facts[field]: variant |= bit; fn(scope, facts[field]),
 *                                or head + facts[field] when given and that is digits
 *   (2, L, head_a, head_b, fn, a, b)
 *                                p = destination or number[:L]; head_a + p, head_b + p
 *                                when p is digits, else fn(a, p), fn(b, p)
 *   (3, k)                       K[k] + number
 *   (4, k, d)                    if len(number) > d: variant |= 8; K[k] + number[:-d]
 *   (5, k, L)                    K[k] + number[:L]
 *   (6, k, L, fn)                p = destination or number[:L];
 *                                K[k] + p when p is digits, else fn(customer, p)
 */
enum { F_CUSTOMER = 1, F_NUMBER = 2, F_DESTINATION = 6 };

static int
is_digits(PyObject *p) /* str.isdigit(); -1 on error */
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(p);
    if (len == 0)
        return 0;
    if (PyUnicode_IS_ASCII(p)) {
        const Py_UCS1 *c = PyUnicode_1BYTE_DATA(p);
        for (Py_ssize_t i = 0; i < len; i++)
            if (c[i] < '0' || c[i] > '9')
                return 0;
        return 1;
    }
    PyObject *r = PyObject_CallMethod(p, "isdigit", NULL);
    if (r == NULL)
        return -1;
    int yes = PyObject_IsTrue(r);
    Py_DECREF(r);
    return yes;
}

static PyObject *
prefix(PyObject *number, Py_ssize_t length) /* number[:length], length >= 0 */
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(number);
    if (length >= len) {
        Py_INCREF(number);
        return number;
    }
    return PyUnicode_Substring(number, 0, length);
}

/* head + src[:n] (n at most len(src)): both ASCII (a key's head and a number's digits,
 * the usual case), one new string written with two copies; else as Python would */
static PyObject *
join_head(PyObject *head, PyObject *src, Py_ssize_t n)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(src);
    if (n > len)
        n = len;
    if (PyUnicode_IS_ASCII(head) && PyUnicode_IS_ASCII(src)) {
        Py_ssize_t hl = PyUnicode_GET_LENGTH(head);
        PyObject *out = PyUnicode_New(hl + n, 127);
        if (out == NULL)
            return NULL;
        memcpy(PyUnicode_1BYTE_DATA(out), PyUnicode_1BYTE_DATA(head), (size_t)hl);
        memcpy(PyUnicode_1BYTE_DATA(out) + hl, PyUnicode_1BYTE_DATA(src), (size_t)n);
        return out;
    }
    if (n == len)
        return PyUnicode_Concat(head, src);
    PyObject *part = PyUnicode_Substring(src, 0, n);
    if (part == NULL)
        return NULL;
    PyObject *out = PyUnicode_Concat(head, part);
    Py_DECREF(part);
    return out;
}

static PyObject *
dest_or_prefix(PyObject *facts, PyObject *number, Py_ssize_t length)
{
    PyObject *d = PyTuple_GET_ITEM(facts, F_DESTINATION);
    if (d != Py_None && PyUnicode_GET_LENGTH(d) > 0) {
        Py_INCREF(d);
        return d;
    }
    return prefix(number, length);
}

static int
append_new(PyObject *list, PyObject *item) /* steals item */
{
    if (item == NULL)
        return -1;
    Py_ssize_t size = PyList_GET_SIZE(list);
    if (size < ((PyListObject *)list)->allocated) { /* the room made beforehand */
        PyList_SET_ITEM(list, size, item);
        Py_SET_SIZE(list, size + 1);
        return 0;
    }
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

static PyObject *
fastwin_keys(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "keys(spec, fallback, facts, K)");
        return NULL;
    }
    PyObject *spec = args[0], *fallback = args[1], *facts = args[2], *K = args[3];
    if (!PyTuple_Check(spec) || !PyTuple_Check(facts) || PyTuple_GET_SIZE(facts) != 9 ||
        !PyTuple_Check(K) || PyTuple_GET_SIZE(K) != 7 ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(facts, F_NUMBER)) ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(facts, F_CUSTOMER)) ||
        !(PyTuple_GET_ITEM(facts, F_DESTINATION) == Py_None ||
          PyUnicode_CheckExact(PyTuple_GET_ITEM(facts, F_DESTINATION))))
        return PyObject_CallFunctionObjArgs(fallback, facts, K, NULL);
    for (Py_ssize_t k = 0; k < 7; k++)
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(K, k)))
            return PyObject_CallFunctionObjArgs(fallback, facts, K, NULL);
    PyObject *number = PyTuple_GET_ITEM(facts, F_NUMBER);
    Py_ssize_t count = PyTuple_GET_SIZE(spec);
    /* room for every key (a step makes at most two), filled by append_new */
    PyObject *keys = PyList_New(2 * count);
    if (keys == NULL)
        return NULL;
    Py_SET_SIZE(keys, 0);
    long variant = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *step = PyTuple_GET_ITEM(spec, i);
        long op = as_long(PyTuple_GET_ITEM(step, 0));
        if (op == 0) {
            PyObject *k = PyTuple_GET_ITEM(K, as_ssize(PyTuple_GET_ITEM(step, 1)));
            Py_INCREF(k);
            if (append_new(keys, k) < 0)
                goto fail;
        } else if (op == 1) {
            PyObject *value = PyTuple_GET_ITEM(facts, as_ssize(PyTuple_GET_ITEM(step, 1)));
            int truth = PyObject_IsTrue(value);
            if (truth < 0)
                goto fail;
            if (truth) {
                variant |= as_long(PyTuple_GET_ITEM(step, 2));
                /* a name of ASCII digits (a destination group) needs no escaping: the key
                 * head (step[5], when the recipe gives it) and the name */
                int digits = PyTuple_GET_SIZE(step) > 5 && PyUnicode_CheckExact(value)
                                 ? is_digits(value)
                                 : 0;
                if (digits < 0)
                    goto fail;
                PyObject *item =
                    digits ? join_head(PyTuple_GET_ITEM(step, 5), value, PY_SSIZE_T_MAX)
                           : PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(step, 3),
                                                          PyTuple_GET_ITEM(step, 4), value, NULL);
                if (append_new(keys, item) < 0)
                    goto fail;
            }
        } else if (op == 2) {
            PyObject *p =
                dest_or_prefix(facts, number, as_ssize(PyTuple_GET_ITEM(step, 1)));
            if (p == NULL)
                goto fail;
            int digits = is_digits(p);
            int bad = digits < 0;
            for (int j = 0; j < 2 && !bad; j++) {
                PyObject *item =
                    digits ? join_head(PyTuple_GET_ITEM(step, 2 + j), p, PY_SSIZE_T_MAX)
                           : PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(step, 4),
                                                          PyTuple_GET_ITEM(step, 5 + j), p, NULL);
                bad = append_new(keys, item) < 0;
            }
            Py_DECREF(p);
            if (bad)
                goto fail;
        } else if (op == 3) {
            PyObject *head = PyTuple_GET_ITEM(K, as_ssize(PyTuple_GET_ITEM(step, 1)));
            if (append_new(keys, join_head(head, number, PY_SSIZE_T_MAX)) < 0)
                goto fail;
        } else if (op == 4) {
            PyObject *head = PyTuple_GET_ITEM(K, as_ssize(PyTuple_GET_ITEM(step, 1)));
            Py_ssize_t d = as_ssize(PyTuple_GET_ITEM(step, 2));
            Py_ssize_t len = PyUnicode_GET_LENGTH(number);
            if (len > d) {
                variant |= 8;
                if (append_new(keys, join_head(head, number, len - d)) < 0)
                    goto fail;
            }
        } else if (op == 5) {
            PyObject *head = PyTuple_GET_ITEM(K, as_ssize(PyTuple_GET_ITEM(step, 1)));
            Py_ssize_t length = as_ssize(PyTuple_GET_ITEM(step, 2));
            if (length < 0 && PyErr_Occurred())
                goto fail;
            if (append_new(keys, join_head(head, number, length < 0 ? 0 : length)) < 0)
                goto fail;
        } else if (op == 6) {
            PyObject *head = PyTuple_GET_ITEM(K, as_ssize(PyTuple_GET_ITEM(step, 1)));
            PyObject *p =
                dest_or_prefix(facts, number, as_ssize(PyTuple_GET_ITEM(step, 2)));
            if (p == NULL)
                goto fail;
            int digits = is_digits(p);
            PyObject *item = NULL;
            if (digits > 0)
                item = join_head(head, p, PY_SSIZE_T_MAX);
            else if (digits == 0)
                item = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(step, 3),
                                                    PyTuple_GET_ITEM(facts, F_CUSTOMER), p, NULL);
            Py_DECREF(p);
            if (append_new(keys, item) < 0)
                goto fail;
        } else {
            PyErr_SetString(PyExc_ValueError, "unknown key step");
            goto fail;
        }
        if (PyErr_Occurred())
            goto fail;
    }
    PyObject *m = PyLong_FromLong(variant);
    if (m == NULL)
        goto fail;
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(m);
        goto fail;
    }
    PyTuple_SET_ITEM(pair, 0, m);
    PyTuple_SET_ITEM(pair, 1, keys);
    return pair;
fail:
    Py_DECREF(keys);
    return NULL;
}

/* ---- A decision's fraud counters in one call: keys, then the program's loop ----
 *
 * decide((spec, fallback, programs, due, acquire, release, settle), facts, K)
 *     -> allowed | (answers, over, first) | (variant, keys)
 *
 * (the fixed arguments in one tuple: a partial of three arguments calls without a
 * buffer of its own). keys(spec, fallback, facts, K), then, under MemoryCounters' lock
 * (its bound ``acquire`` and ``release``, called here), what
 * MemoryCounters.graded_runner's run does for the variant's program: ``programs[variant]`` is Compiled.program's entry, whose item 4 is
 * ``(prepared operations, bounds, adds, slots, hooks)`` (MemoryCounters.native_parts) and
 * item 2 the first-call answer's index. Answers (variant, keys), having changed nothing,
 * when the Python steps must run instead: no such entry (or no native parts), a due
 * entry of the counters (``due``: MemoryCounters._due, a heap kept in the same list
 * object for the counters' life) at or before the instant while the program
 * adds (the runner expires first), or an instant the loop leaves to Python.
 *
 * ``settle``: None, or ``(first_rate, risky, lengths, allowed)``: then, when no answer is
 * above its bound and the first-call rule cannot fire (FraudEngine._settle: the index
 * ``first`` < 0, or that answer != 1, or facts.sell_rate or first_rate None, or the rate
 * below first_rate) and the number is in no high-risk prefix (HighRiskMatcher.match on
 * ``risky``, prefix -> high risk or not, and ``lengths``, its prefix lengths longest
 * first; ``risky`` None: the rule is off), answers ``allowed`` itself (the verdict
 * _settle would give); otherwise (answers, over, first) for _settle.
 */
enum { F_AT = 3, F_SELL_RATE = 8 };

/* 1 when the counted rules' answers settle as allowed (see decide), 0 when _settle must
 * run, -1 on error */
static int
settles_allowed(PyObject *settle, PyObject *answers, PyObject *over, PyObject *first_obj,
                PyObject *facts)
{
    if (over != Py_False || !PyList_Check(answers))
        return 0;
    PyObject *first_rate = PyTuple_GET_ITEM(settle, 0), *risky = PyTuple_GET_ITEM(settle, 1),
             *lengths = PyTuple_GET_ITEM(settle, 2);
    Py_ssize_t first = PyLong_AsSsize_t(first_obj);
    if (first == -1 && PyErr_Occurred())
        return -1;
    if (first >= 0) {
        if (first >= PyList_GET_SIZE(answers))
            return 0;
        PyObject *rate = PyTuple_GET_ITEM(facts, F_SELL_RATE);
        int quiet = 0;
        if (rate == Py_None || first_rate == Py_None)
            quiet = 1;
        else {
            int one = PyObject_RichCompareBool(PyList_GET_ITEM(answers, first), ONE, Py_NE);
            if (one < 0)
                return -1;
            if (one)
                quiet = 1;
            else {
                quiet = PyObject_RichCompareBool(rate, first_rate, Py_LT);
                if (quiet < 0)
                    return -1;
            }
        }
        if (!quiet)
            return 0;
    }
    if (risky == Py_None)
        return 1;
    if (!PyDict_Check(risky) || !PyTuple_Check(lengths))
        return 0;
    PyObject *number = PyTuple_GET_ITEM(facts, F_NUMBER);
    Py_ssize_t len = PyUnicode_GET_LENGTH(number);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lengths); i++) {
        Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(lengths, i));
        if (n == -1 && PyErr_Occurred())
            return -1;
        if (n < 0 || n > len) /* match reads no hit there (len(number) >= n fails) */
            continue;
        PyObject *p = PyUnicode_Substring(number, 0, n);
        if (p == NULL)
            return -1;
        PyObject *hit = PyDict_GetItemWithError(risky, p); /* borrowed */
        Py_DECREF(p);
        if (hit == NULL) {
            if (PyErr_Occurred())
                return -1;
            continue;
        }
        int yes = PyObject_IsTrue(hit);
        if (yes < 0)
            return -1;
        return yes ? 0 : 1; /* a high-risk prefix: _settle gives its verdict */
    }
    return 1;
}

/* ---- Prefetching a program's cold dict entries (CPython 3.11's dict layout) ----
 *
 * A decision's windows are mostly cold: each dict lookup is a chain of dependent cache
 * misses (the index slot, the entry, the stored key, then the window), one window after
 * the other. Before the loop, prefetch_program walks the chains of every operation a
 * stage at a time (all index slots, then all entries, then all keys and windows), so
 * that their misses overlap instead of queueing. It only reads (the dict's index and
 * entries, within their bounds) and hints: no answer depends on it, and on another
 * Python than 3.11 (another dict layout) it does nothing. Called under the GIL with no
 * Python code run in between, so no dict changes while it reads.
 */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PREFETCH_DICTS 1
typedef struct { /* struct _dictkeysobject of CPython 3.11 (Include/internal/pycore_dict.h) */
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind; /* 1: DICT_KEYS_UNICODE (combined, str keys) */
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} Keys311;
typedef struct {
    PyObject *me_key;
    PyObject *me_value;
} UnicodeEntry311;
#define MAX_PREFETCH 32

static void
prefetch_program(PyObject *program, PyObject *keys, PyObject *slots)
{
    Py_ssize_t count = PyTuple_GET_SIZE(program);
    if (count > MAX_PREFETCH || PyList_GET_SIZE(keys) != count)
        return;
    const UnicodeEntry311 *entries[MAX_PREFETCH];
    Keys311 *dks[MAX_PREFETCH];
    Py_ssize_t slot[MAX_PREFETCH];
    for (Py_ssize_t i = 0; i < count; i++) { /* the index slots */
        dks[i] = NULL;
        PyObject *op = PyTuple_GET_ITEM(program, i), *key = PyList_GET_ITEM(keys, i);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 6 || !PyUnicode_CheckExact(key))
            continue;
        PyObject *d = PyTuple_GET_ITEM(op, 1);
        if (d == Py_None)
            d = slots;
        if (!PyDict_CheckExact(d) || ((PyDictObject *)d)->ma_values != NULL)
            continue;
        Keys311 *dk = (Keys311 *)((PyDictObject *)d)->ma_keys;
        if (dk->dk_kind != 1 || ((PyDictObject *)d)->ma_used == 0)
            continue;
        Py_hash_t h = PyObject_Hash(key); /* a str: computed once, kept in it */
        if (h == -1) {
            PyErr_Clear();
            continue;
        }
        size_t mask = ((size_t)1 << dk->dk_log2_size) - 1;
        slot[i] = (Py_ssize_t)((size_t)h & mask);
        dks[i] = dk;
        __builtin_prefetch(dk->dk_indices + (slot[i] << (dk->dk_log2_index_bytes - dk->dk_log2_size)));
    }
    for (Py_ssize_t i = 0; i < count; i++) { /* the entries they name */
        Keys311 *dk = dks[i];
        entries[i] = NULL;
        if (dk == NULL)
            continue;
        int width = dk->dk_log2_index_bytes - dk->dk_log2_size; /* log2 bytes per index */
        Py_ssize_t ix;
        if (width == 0)
            ix = ((const int8_t *)dk->dk_indices)[slot[i]];
        else if (width == 1)
            ix = ((const int16_t *)dk->dk_indices)[slot[i]];
        else if (width == 2)
            ix = ((const int32_t *)dk->dk_indices)[slot[i]];
        else if (width == 3)
            ix = (Py_ssize_t)((const int64_t *)dk->dk_indices)[slot[i]];
        else
            continue;
        if (ix < 0 || ix >= dk->dk_nentries)
            continue;
        const UnicodeEntry311 *e =
            (const UnicodeEntry311 *)(dk->dk_indices + ((size_t)1 << dk->dk_log2_index_bytes)) + ix;
        entries[i] = e;
        __builtin_prefetch(e);
    }
    for (Py_ssize_t i = 0; i < count; i++) { /* the stored keys and the values */
        const UnicodeEntry311 *e = entries[i];
        if (e == NULL)
            continue;
        const char *k = (const char *)e->me_key, *v = (const char *)e->me_value;
        if (k != NULL) {
            __builtin_prefetch(k);
            __builtin_prefetch(k + 48); /* an ASCII str's characters follow its header */
        }
        if (v != NULL) {
            __builtin_prefetch(v);
            __builtin_prefetch(v + 64);
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) { /* a window's buckets held apart */
        const UnicodeEntry311 *e = entries[i];
        if (e == NULL || e->me_value == NULL || !Py_IS_TYPE(e->me_value, &WindowType))
            continue;
        const WindowObject *w = (const WindowObject *)e->me_value;
        if (w->pairs != w->inline_pairs && w->np > 0) {
            __builtin_prefetch(w->pairs);
            __builtin_prefetch(w->pairs + 2 * (w->np - 1));
        }
    }
}
#endif

static PyObject *
fastwin_decide(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "decide((spec, fallback, programs, due, acquire, release, settle), "
                        "facts, K)");
        return NULL;
    }
    PyObject *bound = args[0];
    PyObject *programs = PyTuple_GET_ITEM(bound, 2), *due_list = PyTuple_GET_ITEM(bound, 3),
             *acquire = PyTuple_GET_ITEM(bound, 4), *release_lock = PyTuple_GET_ITEM(bound, 5),
             *settle = PyTuple_GET_ITEM(bound, 6), *facts = args[1];
    PyObject *kargs[4] = {PyTuple_GET_ITEM(bound, 0), PyTuple_GET_ITEM(bound, 1), facts, args[2]};
    PyObject *pair = fastwin_keys(self, kargs, 4);
    if (pair == NULL)
        return NULL;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyDict_Check(programs) ||
        !PyList_Check(PyTuple_GET_ITEM(pair, 1)) || !PyTuple_Check(facts) ||
        PyTuple_GET_SIZE(facts) != 9)
        return pair;
    PyObject *entry = PyDict_GetItemWithError(programs, PyTuple_GET_ITEM(pair, 0));
    if (entry == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(pair);
            return NULL;
        }
        return pair;
    }
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 5)
        return pair;
    PyObject *parts = PyTuple_GET_ITEM(entry, 4);
    if (!PyTuple_Check(parts) || PyTuple_GET_SIZE(parts) != 5)
        return pair;
    PyObject *at = PyTuple_GET_ITEM(facts, F_AT);
    Py_INCREF(entry); /* held across the lock's calls */
    PyObject *done = NULL, *r = PyObject_CallNoArgs(acquire);
    if (r == NULL)
        goto fail;
    Py_DECREF(r);
    int skip = 0;
    if (PyObject_IsTrue(PyTuple_GET_ITEM(parts, 2))) { /* it adds: expire first */
        PyObject *due = due_list; /* MemoryCounters._due: the same list for its life */
        Py_INCREF(due);
        if (!PyList_Check(due))
            skip = 1;
        else if (PyList_GET_SIZE(due) > 0) {
            PyObject *top = PyList_GET_ITEM(due, 0);
            if (!PyTuple_Check(top) || PyTuple_GET_SIZE(top) < 1)
                skip = 1;
            else {
                skip = PyObject_RichCompareBool(PyTuple_GET_ITEM(top, 0), at, Py_LE);
                if (skip < 0) {
                    Py_DECREF(due);
                    goto release;
                }
            }
        }
        Py_DECREF(due);
    }
    if (!skip) {
#ifdef PREFETCH_DICTS
        if (PyTuple_Check(PyTuple_GET_ITEM(parts, 0)) && PyDict_Check(PyTuple_GET_ITEM(parts, 3)))
            prefetch_program(PyTuple_GET_ITEM(parts, 0), PyTuple_GET_ITEM(pair, 1),
                             PyTuple_GET_ITEM(parts, 3));
#endif
        PyObject *rargs[6] = {PyTuple_GET_ITEM(parts, 0), PyTuple_GET_ITEM(pair, 1), at,
                              PyTuple_GET_ITEM(parts, 3), PyTuple_GET_ITEM(parts, 4),
                              PyTuple_GET_ITEM(parts, 1)};
        done = fastwin_run(self, rargs, 6);
    }
release:;
    /* release keeping an error raised before */
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    r = PyObject_CallNoArgs(release_lock);
    if (r == NULL) {
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        Py_CLEAR(done);
        goto fail;
    }
    Py_DECREF(r);
    PyErr_Restore(et, ev, tb);
    if (et != NULL) {
        Py_CLEAR(done);
        goto fail;
    }
    if (done == NULL || !PyTuple_Check(done) || PyTuple_GET_SIZE(done) != 2) {
        /* the Python steps (None: an instant the loop leaves to Python) */
        Py_XDECREF(done);
        Py_DECREF(entry);
        return pair;
    }
    Py_DECREF(pair);
    PyObject *out = NULL;
    int allowed = 0;
    if (PyTuple_Check(settle) && PyTuple_GET_SIZE(settle) == 4)
        allowed = settles_allowed(settle, PyTuple_GET_ITEM(done, 0), PyTuple_GET_ITEM(done, 1),
                                  PyTuple_GET_ITEM(entry, 2), facts);
    if (allowed > 0) {
        out = PyTuple_GET_ITEM(settle, 3);
        Py_INCREF(out);
    } else if (allowed == 0)
        out = PyTuple_Pack(3, PyTuple_GET_ITEM(done, 0), PyTuple_GET_ITEM(done, 1),
                           PyTuple_GET_ITEM(entry, 2));
    Py_DECREF(done);
    Py_DECREF(entry);
    return out;
fail:
    Py_DECREF(entry);
    Py_DECREF(pair);
    return NULL;
}

static PyMethodDef methods[] = {
    {"decide", (PyCFunction)(void (*)(void))fastwin_decide, METH_FASTCALL,
     "A decision's fraud keys and counter operations in one call (see the source)."},
    {"run", (PyCFunction)(void (*)(void))fastwin_run, METH_FASTCALL,
     "MemoryCounters.run_program's loop (see the source)."},
    {"keys", (PyCFunction)(void (*)(void))fastwin_keys, METH_FASTCALL,
     "A decision's counter keys from a rule set's recipe (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastwin", "MemoryCounters.run_program's loop in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastwin(void)
{
    str_live = PyUnicode_InternFromString("live");
    WINDOW_TAG = PyLong_FromLong(1);
    ONE = PyLong_FromLong(1);
    if (!str_live || !WINDOW_TAG || !ONE)
        return NULL;
    if (PyType_Ready(&WindowType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&WindowType);
    if (PyModule_AddObject(m, "Window", (PyObject *)&WindowType) < 0) {
        Py_DECREF(&WindowType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
