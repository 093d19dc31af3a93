/* The loop of MemoryCounters.run_program in C (optional: tandem/state/memory.py runs the
 * same loop in Python when this extension is not built, and the tests run both on the
 * same random operations, tests/state/test_fastwin.py).
 *
 * run(program, keys, at, slots, hooks, bounds) -> list | (list, bool) | None
 *
 * Each program entry is (kind, table, amount): kind 0 counts the live slots under the key
 * (slots[key].live(at)), 1 adds amount to the key's window in table and answers its
 * total, 2 answers its total. A window is MemoryCounters' flat list [sum, first, last,
 * due, bucket, amount, ...]. The common cases (the latest bucket, a new latest bucket,
 * a total up to the latest bucket) are done here on the Python objects themselves; the
 * rest calls the Python helpers in hooks = (new_window, evict, add, total, push), so that
 * both paths share them. Every number stays a Python int (exact, no overflow).
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

static PyObject *str_windows, *str_n, *str_step, *str_window, *str_live;
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
    if (PyTuple_GET_SIZE(hooks) != 5) {
        PyErr_SetString(PyExc_ValueError, "hooks: (new_window, evict, add, total, push)");
        return NULL;
    }
    int graded = bounds != Py_None;
    if (graded && (!PyTuple_Check(bounds) || PyTuple_GET_SIZE(bounds) != count)) {
        PyErr_SetString(PyExc_ValueError, "bounds: a tuple, one per operation");
        return NULL;
    }
    PyObject *new_window = PyTuple_GET_ITEM(hooks, 0), *evict = PyTuple_GET_ITEM(hooks, 1),
             *add = PyTuple_GET_ITEM(hooks, 2), *total = PyTuple_GET_ITEM(hooks, 3),
             *push = PyTuple_GET_ITEM(hooks, 4);
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    int over = 0;
    PyObject *table = NULL, *windows = NULL, *n = NULL, *step = NULL, *b = NULL, *w = NULL,
             *answer = NULL, *oldest = NULL, *tmp = NULL, *tmp2 = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *op = PyTuple_GET_ITEM(program, i);
        PyObject *key = PyList_GET_ITEM(keys, i);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 3) {
            PyErr_SetString(PyExc_ValueError, "an operation is (kind, table, amount)");
            goto fail;
        }
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(op, 0));
        if (kind == -1 && PyErr_Occurred())
            goto fail;
        PyObject *amount = PyTuple_GET_ITEM(op, 2);
        answer = NULL;
        if (kind == 0) {
            PyObject *s = PyDict_GetItemWithError(slots, key); /* borrowed */
            if (s == NULL) {
                if (PyErr_Occurred())
                    goto fail;
                answer = PyLong_FromLong(0);
            } else {
                answer = PyObject_CallMethodOneArg(s, str_live, at);
            }
            if (answer == NULL)
                goto fail;
            goto store;
        }
        table = PyTuple_GET_ITEM(op, 1);
        windows = PyObject_GetAttr(table, str_windows);
        if (windows == NULL)
            goto fail;
        if (!PyDict_Check(windows)) {
            PyErr_SetString(PyExc_TypeError, "table.windows must be a dict");
            goto fail;
        }
        n = PyObject_GetAttr(table, str_n);
        step = n ? PyObject_GetAttr(table, str_step) : NULL;
        if (step == NULL)
            goto fail;
        b = bucket_of(at_is_int, at_ll, at_d, step);
        if (b == NULL)
            goto fail;
        w = PyDict_GetItemWithError(windows, key); /* borrowed */
        if (w == NULL) {
            if (PyErr_Occurred())
                goto fail;
            if (kind == 2) {
                answer = PyLong_FromLong(0);
                if (answer == NULL)
                    goto fail;
                goto done_op;
            }
            w = PyObject_CallFunctionObjArgs(new_window, windows, key, b, NULL);
            if (w == NULL)
                goto fail;
            Py_DECREF(w); /* the dict holds it */
        }
        if (!PyList_CheckExact(w) || PyList_GET_SIZE(w) < 4) {
            PyErr_SetString(PyExc_TypeError, "a window is a list");
            goto fail;
        }
        Py_INCREF(w);
        /* a bucket may have left the window: first <= b - n */
        tmp = PyNumber_Subtract(b, n);
        if (tmp == NULL)
            goto fail_w;
        int left = PyObject_RichCompareBool(PyList_GET_ITEM(w, 1), tmp, Py_LE);
        if (left < 0)
            goto fail_w;
        if (left) {
            oldest = PyNumber_Add(tmp, ONE);
            if (oldest == NULL)
                goto fail_w;
            tmp2 = PyObject_CallFunctionObjArgs(evict, w, oldest, NULL);
            Py_CLEAR(oldest);
            if (tmp2 == NULL)
                goto fail_w;
            Py_CLEAR(tmp2);
        }
        Py_CLEAR(tmp);
        if (kind == 1) {
            Py_ssize_t size = PyList_GET_SIZE(w);
            int latest = 0, newer = 0;
            if (size > 4) {
                latest = PyObject_RichCompareBool(PyList_GET_ITEM(w, 2), b, Py_EQ);
                if (latest < 0)
                    goto fail_w;
                if (!latest) {
                    newer = PyObject_RichCompareBool(b, PyList_GET_ITEM(w, 2), Py_GT);
                    if (newer < 0)
                        goto fail_w;
                }
            } else {
                newer = 1;
            }
            if (latest) { /* the latest bucket: the common case */
                if (set_item(w, size - 1, PyNumber_Add(PyList_GET_ITEM(w, size - 1), amount)) < 0)
                    goto fail_w;
                if (set_item(w, 0, PyNumber_Add(PyList_GET_ITEM(w, 0), amount)) < 0)
                    goto fail_w;
                answer = PyList_GET_ITEM(w, 0);
                Py_INCREF(answer);
                Py_DECREF(w);
                goto done_op;
            }
            if (newer) { /* a new latest bucket (_add's first case) */
                if (set_item(w, 0, PyNumber_Add(PyList_GET_ITEM(w, 0), amount)) < 0)
                    goto fail_w;
                if (PyList_Append(w, b) < 0 || PyList_Append(w, amount) < 0)
                    goto fail_w;
                Py_INCREF(b);
                if (set_item(w, 2, b) < 0)
                    goto fail_w;
                int below = PyObject_RichCompareBool(b, PyList_GET_ITEM(w, 1), Py_LT);
                if (below < 0)
                    goto fail_w;
                if (below) {
                    Py_INCREF(b);
                    if (set_item(w, 1, b) < 0)
                        goto fail_w;
                }
            } else { /* an earlier bucket: the Python helper */
                tmp2 = PyObject_CallFunctionObjArgs(add, w, b, amount, NULL);
                if (tmp2 == NULL)
                    goto fail_w;
                newer = PyObject_IsTrue(tmp2);
                Py_CLEAR(tmp2);
                if (newer < 0)
                    goto fail_w;
            }
            if (newer) { /* due: (b + n) * step; one due entry per window, when new */
                PyObject *due = PyList_GET_ITEM(w, 3);
                int fresh = PyFloat_Check(due) && isinf(PyFloat_AS_DOUBLE(due)) &&
                            PyFloat_AS_DOUBLE(due) < 0;
                tmp = PyNumber_Add(b, n);
                if (tmp == NULL)
                    goto fail_w;
                tmp2 = PyNumber_Multiply(tmp, step);
                Py_CLEAR(tmp);
                if (tmp2 == NULL)
                    goto fail_w;
                Py_INCREF(tmp2);
                if (set_item(w, 3, tmp2) < 0) {
                    Py_CLEAR(tmp2);
                    goto fail_w;
                }
                if (fresh) {
                    PyObject *window = PyObject_GetAttr(table, str_window);
                    PyObject *where = window ? PyTuple_Pack(3, key, window, step) : NULL;
                    Py_XDECREF(window);
                    PyObject *entry = where ? PyTuple_Pack(3, tmp2, WINDOW_TAG, where) : NULL;
                    Py_XDECREF(where);
                    Py_CLEAR(tmp2);
                    if (entry == NULL)
                        goto fail_w;
                    PyObject *r = PyObject_CallOneArg(push, entry);
                    Py_DECREF(entry);
                    if (r == NULL)
                        goto fail_w;
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
                goto fail_w;
            if (later) {
                answer = PyObject_CallFunctionObjArgs(total, w, b, NULL);
                if (answer == NULL)
                    goto fail_w;
            } else {
                answer = PyList_GET_ITEM(w, 0);
                Py_INCREF(answer);
            }
        }
        Py_DECREF(w);
    done_op:
        Py_CLEAR(windows);
        Py_CLEAR(n);
        Py_CLEAR(step);
        Py_CLEAR(b);
    store:
        if (graded && !over) {
            int above = PyObject_RichCompareBool(answer, PyTuple_GET_ITEM(bounds, i), Py_GT);
            if (above < 0) {
                Py_DECREF(answer);
                goto fail;
            }
            over = above;
        }
        PyList_SET_ITEM(out, i, answer); /* steals */
        continue;
    fail_w:
        Py_DECREF(w);
        goto fail;
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
    Py_XDECREF(windows);
    Py_XDECREF(n);
    Py_XDECREF(step);
    Py_XDECREF(b);
    Py_XDECREF(tmp);
    Py_XDECREF(tmp2);
    Py_XDECREF(oldest);
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"run", (PyCFunction)(void (*)(void))fastwin_run, METH_FASTCALL,
     "MemoryCounters.run_program's loop (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastwin", "MemoryCounters.run_program's loop in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastwin(void)
{
    str_windows = PyUnicode_InternFromString("windows");
    str_n = PyUnicode_InternFromString("n");
    str_step = PyUnicode_InternFromString("step");
    str_window = PyUnicode_InternFromString("window");
    str_live = PyUnicode_InternFromString("live");
    WINDOW_TAG = PyLong_FromLong(1);
    ONE = PyLong_FromLong(1);
    if (!str_windows || !str_n || !str_step || !str_window || !str_live || !WINDOW_TAG || !ONE)
        return NULL;
    return PyModule_Create(&module);
}
