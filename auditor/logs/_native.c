/* The CloudTrail reader's hot loops in C (`auditor/logs/reader.py` keeps the same in Python,
 * used when this extension is not built):
 *
 * 1. the scan: one pass over each inflated piece that finds `"eventName"` `:` `"<a watched
 *    name>"` (any JSON whitespace around the colon) and any letter or digit written as a
 *    `\u00XX` escape, exactly as the hyperscan pattern and the escape regex of `reader.py`
 *    do, over the pieces of a file as one stream (AVX2 when the CPU has it, else the C
 *    library's memchr and memmem):
 *
 *      names = Names([b"StopLogging", ...])
 *      stream = names.stream()
 *      stream.feed(piece, hits) -> bool  # appends the stream offset after each match's
 *                                        # closing quote to `hits`, ascending; False: an
 *                                        # escaped letter or digit (the reader then reads
 *                                        # the file record by record)
 *
 *    A match cut by the end of a piece is carried on as its state (how far it got, and the
 *    name's bytes so far), not as the bytes it spans: each piece is read once whatever the
 *    blanks a match holds and the pieces they come in (each gzip member is a piece).
 *
 * 2. placing a hit's record: `record_start` (the walk back to a `{` after `[` or `,`) and
 *    `value_end` (where the object closes, by its brackets outside strings), so that msgspec
 *    decodes exactly the record's bytes.
 *
 * Every read is bounds-checked against the buffer given. The GIL is held throughout
 * (a piece is at most a MiB, scanned in well under a millisecond; PyMem_* needs it).
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(DRGUARD_NO_AVX2)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

static const unsigned char LIT[] = "\"eventName\"";
#define LIT_LEN 11
#define NEED (-2)    /* the piece ended before the match could be decided */
#define NOMATCH (-1)
#define TABLE 256    /* hash slots (a power of two, over twice the names) */
#define MAX_NAME 255 /* bytes: a longer watched name is refused */
#define MAX_PENDING 8 /* open matches at once (a stream's end holds at most two) */
#define ESC_LEN 6       /* \u00XX */

/* ---- the watched names ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t maxlen;
    uint64_t lengths[4]; /* bit n: some name is n bytes long (n < 256) */
    Py_ssize_t len[TABLE];
    unsigned char *key[TABLE]; /* NULL: empty slot */
} NamesObject;

static uint32_t hash_bytes(const unsigned char *s, Py_ssize_t n) {
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

static int names_has(const NamesObject *t, const unsigned char *s, Py_ssize_t n) {
    if (n > t->maxlen || !(t->lengths[n >> 6] & ((uint64_t)1 << (n & 63))))
        return 0;
    uint32_t slot = hash_bytes(s, n) & (TABLE - 1);
    while (t->key[slot] != NULL) {
        if (t->len[slot] == n && memcmp(t->key[slot], s, (size_t)n) == 0)
            return 1;
        slot = (slot + 1) & (TABLE - 1);
    }
    return 0;
}

static void names_dealloc(NamesObject *self) {
    for (int i = 0; i < TABLE; i++)
        PyMem_Free(self->key[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int names_init(NamesObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"names", NULL};
    PyObject *arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &arg))
        return -1;
    PyObject *seq = PySequence_Fast(arg, "names must be a sequence of bytes");
    if (seq == NULL)
        return -1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    if (count > TABLE / 2) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many names");
        return -1;
    }
    for (int i = 0; i < TABLE; i++) {
        PyMem_Free(self->key[i]);
        self->key[i] = NULL;
        self->len[i] = 0;
    }
    memset(self->lengths, 0, sizeof(self->lengths));
    self->maxlen = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        char *s;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(item, &s, &n) < 0) {
            Py_DECREF(seq);
            return -1;
        }
        if (n < 1 || n > MAX_NAME || memchr(s, '"', (size_t)n) != NULL) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "a name must be 1-255 bytes without '\"'");
            return -1;
        }
        if (names_has(self, (const unsigned char *)s, n))
            continue;
        uint32_t slot = hash_bytes((const unsigned char *)s, n) & (TABLE - 1);
        while (self->key[slot] != NULL)
            slot = (slot + 1) & (TABLE - 1);
        self->key[slot] = PyMem_Malloc((size_t)n);
        if (self->key[slot] == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(self->key[slot], s, (size_t)n);
        self->len[slot] = n;
        self->lengths[n >> 6] |= (uint64_t)1 << (n & 63);
        if (n > self->maxlen)
            self->maxlen = n;
    }
    Py_DECREF(seq);
    return 0;
}

/* ---- matching ------------------------------------------------------------------------- */

static inline int is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline int hexlike(unsigned char x, unsigned char y) {
    /* \u00XX for a letter or digit: 3[0-9], [46][1-9a-fA-F], [57][0-9aA] */
    if (x == '3')
        return y >= '0' && y <= '9';
    if (x == '4' || x == '6')
        return (y >= '1' && y <= '9') || (y >= 'a' && y <= 'f') || (y >= 'A' && y <= 'F');
    if (x == '5' || x == '7')
        return (y >= '0' && y <= '9') || y == 'a' || y == 'A';
    return 0;
}

/* b[i] is a backslash with ESC_LEN bytes from it in b: do they write a letter or digit? */
static inline int escaped_alnum(const unsigned char *b, Py_ssize_t i) {
    return b[i + 1] == 'u' && b[i + 2] == '0' && b[i + 3] == '0' && hexlike(b[i + 4], b[i + 5]);
}

/* Past any JSON whitespace from b[p], the byte `c`: the offset after it, NOMATCH (another
 * byte), or NEED (the piece ends first). */
static inline Py_ssize_t take_after_ws(const unsigned char *b, Py_ssize_t n, Py_ssize_t p,
                                       unsigned char c) {
    while (p < n && is_ws(b[p]))
        p++;
    if (p >= n)
        return NEED;
    return b[p] == c ? p + 1 : NOMATCH;
}

/* A match cut by the end of a piece, as `match_at` left it: the next piece goes on from it. */
enum { IN_LITERAL, BEFORE_COLON, AFTER_COLON, IN_NAME };

typedef struct {
    int stage;
    int k; /* IN_LITERAL: bytes of the literal matched; IN_NAME: bytes of the name read */
    unsigned char name[MAX_NAME];
} Open;

/* `match_at` from where `m` stopped, over b[0:n]: the offset after the closing quote,
 * NOMATCH, or NEED (then `m` holds how far it got). */
static Py_ssize_t match_on(Open *m, const unsigned char *b, Py_ssize_t n, const NamesObject *t) {
    Py_ssize_t p = 0;
    switch (m->stage) {
    case IN_LITERAL:
        for (; m->k < LIT_LEN; m->k++, p++) {
            if (p >= n)
                return NEED;
            if (b[p] != LIT[m->k])
                return NOMATCH;
        }
        m->stage = BEFORE_COLON;
        /* fall through */
    case BEFORE_COLON:
        if ((p = take_after_ws(b, n, p, ':')) < 0)
            return p;
        m->stage = AFTER_COLON;
        /* fall through */
    case AFTER_COLON:
        if ((p = take_after_ws(b, n, p, '"')) < 0)
            return p;
        m->stage = IN_NAME;
        m->k = 0;
        /* fall through */
    default: {
        /* the name, read where it lies; only a piece's end makes its bytes so far kept (at
         * most maxlen <= MAX_NAME in all) for the next piece */
        Py_ssize_t s = p, room = t->maxlen - m->k;
        for (; p < n && b[p] != '"'; p++)
            if (p - s >= room)
                return NOMATCH;
        if (p < n && m->k == 0)
            return names_has(t, b + s, p - s) ? p + 1 : NOMATCH;
        memcpy(m->name + m->k, b + s, (size_t)(p - s));
        m->k += (int)(p - s);
        if (p >= n)
            return NEED;
        return names_has(t, m->name, m->k) ? p + 1 : NOMATCH;
    }
    }
}

/* The match whose literal starts at b[i]: the offset after its closing quote, NOMATCH, or
 * NEED when b ends before it is decided. */
static Py_ssize_t match_at(const unsigned char *b, Py_ssize_t n, Py_ssize_t i,
                           const NamesObject *t) {
    Open m;
    m.stage = IN_LITERAL; /* the name buffer is written before it is read */
    m.k = 0;
    Py_ssize_t r = match_on(&m, b + i, n - i, t);
    return r >= 0 ? i + r : r;
}

/* ---- a file's stream ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    NamesObject *names;
    long long offset;   /* stream offset of the next piece's first byte */
    unsigned char tail[ESC_LEN - 1]; /* the stream's last bytes (an escape cut by a piece) */
    int ntail;
    Open open[MAX_PENDING]; /* the matches cut by the end of the stream so far */
    int nopen;
    int failed;
} StreamObject;

typedef struct {
    long long *v;
    Py_ssize_t n, cap;
} Hits;

static int hits_add(Hits *h, long long end) {
    if (h->n == h->cap) {
        Py_ssize_t cap = h->cap ? h->cap * 2 : 64;
        long long *v = PyMem_Realloc(h->v, (size_t)cap * sizeof(long long));
        if (v == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = end;
    return 0;
}

/* Literal starts in b (a piece at stream offset `base`): decided matches go to `hits`, open
 * ones (cut by the end of b) to `open`. Returns 1 on an escaped letter or digit, -1 on a
 * Python error, 0 otherwise. */
static int scan_scalar(const unsigned char *b, Py_ssize_t from, Py_ssize_t n,
                       const NamesObject *t, long long base, Hits *hits, Hits *open) {
    for (Py_ssize_t i = from; i < n; i++) {
        unsigned char c = b[i];
        if (c == '"') {
            Py_ssize_t r = match_at(b, n, i, t);
            if (r >= 0) {
                if (hits_add(hits, base + r) < 0)
                    return -1;
            } else if (r == NEED) {
                if (hits_add(open, base + i) < 0)
                    return -1;
            }
        } else if (c == '\\' && i + ESC_LEN <= n && escaped_alnum(b, i)) {
            return 1;
        }
    }
    return 0;
}

#ifdef HAVE_AVX2_PATH
/* The same over b[0:n] for a long piece, looking at 2 bytes of the literal per position:
 * the bytes of "eventName" with few look-alikes nearby ('v' and 'N'), and backslashes. */
#define ANCHOR1 2 /* 'v' */
#define ANCHOR2 6 /* 'N' */

static int on_candidates(const unsigned char *b, Py_ssize_t n, Py_ssize_t i, uint32_t lit,
                         uint32_t esc, const NamesObject *t, long long base, Hits *hits,
                         Hits *open) {
    while (esc) {
        Py_ssize_t j = i + __builtin_ctz(esc);
        esc &= esc - 1;
        if (j + ESC_LEN <= n && escaped_alnum(b, j))
            return 1;
        /* an escape cut by the end of the piece is seen with the next one (`tail`) */
    }
    while (lit) {
        Py_ssize_t j = i + __builtin_ctz(lit);
        lit &= lit - 1;
        if (b[j] != '"')
            continue;
        Py_ssize_t r = match_at(b, n, j, t);
        if (r >= 0) {
            if (hits_add(hits, base + r) < 0)
                return -1;
        } else if (r == NEED) {
            if (hits_add(open, base + j) < 0)
                return -1;
        }
    }
    return 0;
}

__attribute__((target("avx2"))) static int scan_avx2(const unsigned char *b, Py_ssize_t n,
                                                     const NamesObject *t, long long base,
                                                     Hits *hits, Hits *open,
                                                     Py_ssize_t *done) {
    const __m256i v = _mm256_set1_epi8('v'), N = _mm256_set1_epi8('N'),
                  bs = _mm256_set1_epi8('\\');
    Py_ssize_t i = 0;
    /* the loads read b[i .. i + ANCHOR2 + 32): stay inside b */
    for (; i + 32 + ANCHOR2 <= n; i += 32) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(b + i + ANCHOR1));
        __m256i a2 = _mm256_loadu_si256((const __m256i *)(b + i + ANCHOR2));
        __m256i m = _mm256_and_si256(_mm256_cmpeq_epi8(a1, v), _mm256_cmpeq_epi8(a2, N));
        uint32_t lit = (uint32_t)_mm256_movemask_epi8(m);
        uint32_t esc = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, bs));
        if (__builtin_expect((lit | esc) != 0, 0)) {
            int r = on_candidates(b, n, i, lit, esc, t, base, hits, open);
            if (r)
                return r;
        }
    }
    *done = i;
    return 0;
}
#endif

static int use_avx2 = 0;

static int scan_piece(const unsigned char *b, Py_ssize_t n, const NamesObject *t,
                      long long base, Hits *hits, Hits *open) {
    Py_ssize_t done = 0;
#ifdef HAVE_AVX2_PATH
    if (use_avx2) {
        int r = scan_avx2(b, n, t, base, hits, open, &done);
        if (r)
            return r;
    }
#endif
    if (done == 0 && n > 4096) {
        /* no AVX2: the C library's memchr for backslashes and memmem for the literal */
        const unsigned char *p = b, *end = b + n, *q;
        while (p < end && (q = memchr(p, '\\', (size_t)(end - p))) != NULL) {
            if (q - b + ESC_LEN <= n && escaped_alnum(b, q - b))
                return 1;
            p = q + 1;
        }
        p = b;
        while (p < end && (q = memmem(p, (size_t)(end - p), LIT, LIT_LEN)) != NULL) {
            Py_ssize_t r = match_at(b, n, q - b, t);
            if (r >= 0) {
                if (hits_add(hits, base + r) < 0)
                    return -1;
            } else if (r == NEED && hits_add(open, base + (q - b)) < 0) {
                return -1;
            }
            p = q + 1;
        }
        /* a literal cut by the end of the piece */
        for (Py_ssize_t j = n - LIT_LEN + 1; j < n; j++)
            if (b[j] == '"' && match_at(b, n, j, t) == NEED && hits_add(open, base + j) < 0)
                return -1;
        return 0;
    }
    return scan_scalar(b, done, n, t, base, hits, open);
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The work of `feed`: 1 (an escaped letter or digit, or more open matches than kept), 0,
 * -1 (a Python error). The stream changes only when it returns 0. */
static int feed(StreamObject *s, const unsigned char *b, Py_ssize_t n, Hits *hits) {
    const NamesObject *t = s->names;
    long long base = s->offset;
    Hits open = {NULL, 0, 0};
    Open next[MAX_PENDING];
    int nnext = 0, rc = 0;

    /* an escape that starts in the previous pieces and ends in this one */
    if (s->ntail) {
        unsigned char j[2 * ESC_LEN];
        Py_ssize_t take = n < ESC_LEN ? n : ESC_LEN;
        memcpy(j, s->tail, (size_t)s->ntail);
        if (take)
            memcpy(j + s->ntail, b, (size_t)take);
        for (int i = 0; i < s->ntail; i++)
            if (j[i] == '\\' && i + ESC_LEN <= s->ntail + take && escaped_alnum(j, i))
                return 1;
    }

    /* the matches left open by the previous pieces go on over this one */
    for (int k = 0; k < s->nopen; k++) {
        next[nnext] = s->open[k];
        Py_ssize_t r = match_on(&next[nnext], b, n, t);
        if (r >= 0) {
            if (hits_add(hits, base + r) < 0) {
                rc = -1;
                goto done;
            }
        } else if (r == NEED) {
            nnext++;
        }
    }

    rc = scan_piece(b, n, t, base, hits, &open);
    if (rc)
        goto done;
    if (nnext + open.n > MAX_PENDING) {
        rc = 1;
        goto done;
    }
    for (Py_ssize_t k = 0; k < open.n; k++) {
        Py_ssize_t at = (Py_ssize_t)(open.v[k] - base);
        next[nnext] = (Open){IN_LITERAL, 0, {0}};
        if (match_on(&next[nnext], b + at, n - at, t) == NEED) /* as match_at said */
            nnext++;
    }
    memcpy(s->open, next, sizeof(Open) * (size_t)nnext);
    s->nopen = nnext;

    /* the stream's last bytes, for an escape cut by the next piece */
    if (n >= ESC_LEN - 1) {
        memcpy(s->tail, b + n - (ESC_LEN - 1), ESC_LEN - 1);
        s->ntail = ESC_LEN - 1;
    } else {
        unsigned char j[2 * ESC_LEN];
        memcpy(j, s->tail, (size_t)s->ntail);
        if (n)
            memcpy(j + s->ntail, b, (size_t)n);
        int all = s->ntail + (int)n;
        int keepn = all < ESC_LEN - 1 ? all : ESC_LEN - 1;
        memcpy(s->tail, j + all - keepn, (size_t)keepn);
        s->ntail = keepn;
    }
    s->offset += n;
done:
    PyMem_Free(open.v);
    return rc;
}

static PyObject *stream_feed(StreamObject *s, PyObject *args) {
    Py_buffer view;
    PyObject *list;
    if (!PyArg_ParseTuple(args, "y*O!", &view, &PyList_Type, &list))
        return NULL;
    if (s->failed) {
        PyBuffer_Release(&view);
        Py_RETURN_FALSE;
    }
    Hits hits = {NULL, 0, 0};
    int rc = feed(s, (const unsigned char *)view.buf, view.len, &hits);
    PyBuffer_Release(&view);
    if (rc == 0 && hits.n > 1)
        qsort(hits.v, (size_t)hits.n, sizeof(long long), cmp_ll);
    for (Py_ssize_t k = 0; rc == 0 && k < hits.n; k++) {
        PyObject *end = PyLong_FromLongLong(hits.v[k]);
        if (end == NULL || PyList_Append(list, end) < 0)
            rc = -1;
        Py_XDECREF(end);
    }
    PyMem_Free(hits.v);
    if (rc < 0)
        return NULL;
    if (rc) {
        s->failed = 1;
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static void stream_dealloc(StreamObject *s) {
    Py_XDECREF(s->names);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef stream_methods[] = {
    {"feed", (PyCFunction)stream_feed, METH_VARARGS,
     "feed(piece, hits) -> bool: scan the next piece, appending match ends to hits; False "
     "when the file must be read record by record."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "auditor.logs._native.Stream",
    .tp_basicsize = sizeof(StreamObject),
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One file's scan over its inflated pieces (from Names.stream()).",
    .tp_methods = stream_methods,
};

static PyObject *names_stream(NamesObject *self, PyObject *Py_UNUSED(ignored)) {
    StreamObject *s = PyObject_New(StreamObject, &StreamType);
    if (s == NULL)
        return NULL;
    Py_INCREF(self);
    s->names = self;
    s->offset = 0;
    s->ntail = 0;
    s->nopen = 0;
    s->failed = 0;
    return (PyObject *)s;
}

static PyMethodDef names_methods[] = {
    {"stream", (PyCFunction)names_stream, METH_NOARGS, "A new stream for one file."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject NamesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "auditor.logs._native.Names",
    .tp_basicsize = sizeof(NamesObject),
    .tp_dealloc = (destructor)names_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Names(names): the watched eventNames (bytes), hashed once.",
    .tp_methods = names_methods,
    .tp_init = (initproc)names_init,
    .tp_new = PyType_GenericNew,
};

/* ---- placing a record ------------------------------------------------------------------ */

/* record_start(buf, pos, lo) -> int: the last `{` before `pos` (at or after `lo`) whose
 * previous non-blank byte (after `lo`) is `[` or `,`: where a record of the Records array
 * may start; -1 when there is none. As `reader._record_at` walks. */
static PyObject *record_start(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, lo;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &pos, &lo))
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len;
    if (lo < 0)
        lo = 0;
    if (pos > n)
        pos = n;
    if (pos < lo) /* nothing to walk (and `pos - 1` below cannot overflow) */
        pos = lo;
    Py_ssize_t found = -1;
    for (Py_ssize_t c = pos - 1; c >= lo; c--) {
        if (b[c] != '{')
            continue;
        Py_ssize_t j = c - 1;
        while (j > lo && is_ws(b[j]))
            j--;
        if (j >= lo && (b[j] == '[' || b[j] == ',')) {
            found = c;
            break;
        }
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(found);
}

/* value_end(buf, c, limit) -> (end, brackets) | None: the end of the object or array that
 * starts at buf[c], by its brackets outside strings, if it closes before `limit`; and the
 * count of `{` and `[` bytes in buf[c:end] (in strings too, as bytes.count counts them). Exact
 * for valid JSON; for anything else the decoder that follows says no. */
static PyObject *value_end(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t c, limit;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &c, &limit))
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len;
    if (limit > n)
        limit = n;
    Py_ssize_t end = -1, brackets = 0, depth = 0;
    int in_string = 0;
    for (Py_ssize_t i = c < 0 ? limit : c; i < limit; i++) {
        unsigned char x = b[i];
        if (x == '{' || x == '[')
            brackets++;
        if (in_string) {
            if (x == '\\') {
                if (++i < limit && (b[i] == '{' || b[i] == '['))
                    brackets++; /* the escaped byte, counted as bytes.count counts it */
            } else if (x == '"')
                in_string = 0;
            continue;
        }
        if (x == '"') {
            in_string = 1;
        } else if (x == '{' || x == '[') {
            depth++;
        } else if (x == '}' || x == ']') {
            if (--depth == 0) {
                end = i + 1;
                break;
            }
        }
    }
    PyBuffer_Release(&view);
    if (end < 0)
        Py_RETURN_NONE;
    return Py_BuildValue("nn", end, brackets);
}

static PyObject *set_avx2(PyObject *Py_UNUSED(module), PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    int was = use_avx2;
#ifdef HAVE_AVX2_PATH
    use_avx2 = on && __builtin_cpu_supports("avx2");
#endif
    return PyBool_FromLong(was);
}

static PyMethodDef module_methods[] = {
    {"record_start", record_start, METH_VARARGS,
     "record_start(buf, pos, lo) -> int: where the record holding byte pos may start, or -1."},
    {"value_end", value_end, METH_VARARGS,
     "value_end(buf, c, limit) -> (end, brackets) | None: the end of the JSON object at c."},
    {"set_avx2", set_avx2, METH_O,
     "set_avx2(on) -> bool: scan with AVX2 (when the CPU has it) or with memchr and memmem "
     "(tests run both); the previous setting."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, .m_name = "auditor.logs._native",
    .m_doc = "The CloudTrail reader's scan over inflated pieces, in C.", .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
#ifdef HAVE_AVX2_PATH
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
#endif
    if (PyType_Ready(&NamesType) < 0 || PyType_Ready(&StreamType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&NamesType);
    if (PyModule_AddObject(m, "Names", (PyObject *)&NamesType) < 0) {
        Py_DECREF(&NamesType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&StreamType);
    if (PyModule_AddObject(m, "Stream", (PyObject *)&StreamType) < 0) {
        Py_DECREF(&StreamType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
