/* `dr-audit state`'s per-resource text check in C (`auditor/state.py` keeps the same in
 * Python, `_walk_free`, used when this extension is not built):
 *
 *     plain(buffer, key, limit) -> bool
 *
 * Whether a resource's property text can be taken as msgspec decodes it: the text holds no
 * `key` (the signature key of secrets and other special values), no `\u` escape (which could
 * spell that key), and fewer than `limit` opening brackets, `{` and `[`, counted inside
 * strings too (a bound on how deep a value can nest). One pass over any buffer (msgspec's
 * Raw included, so the text is not copied first); the GIL is held (a resource's text is a few
 * KiB).
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "plain(buffer, key, limit)");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer text, key;
    if (PyObject_GetBuffer(args[0], &text, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&text);
        return NULL;
    }
    const unsigned char *s = text.buf;
    Py_ssize_t n = text.len;
    /* as in Python: no count is below a limit <= 0, and every text holds the empty key */
    int ok = limit > 0;
    if (key.len == 0 ||
        (key.len <= n && memmem(s, (size_t)n, key.buf, (size_t)key.len) != NULL))
        ok = 0;
    Py_ssize_t brackets = 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        unsigned char c = s[i];
        if (c == '{' || c == '[') {
            if (++brackets >= limit)
                ok = 0;
        } else if (c == '\\' && i + 1 < n && s[i + 1] == 'u') {
            ok = 0;
        }
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&text);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"plain", (PyCFunction)(void (*)(void))plain, METH_FASTCALL,
     "plain(buffer, key, limit) -> bool: no key, no \\u escape, fewer than limit brackets"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_state_scan",
    "dr-audit state's per-resource text check (see auditor/state.py, _walk_free)", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__state_scan(void) { return PyModule_Create(&module); }
