/* test_json.c — the strict JSON reader and writer (src/io/json.c): valid and invalid documents,
 * numbers against the compiler's own literals, escapes and UTF-8, depth and memory limits,
 * truncation at every byte and single-byte mutations (never a crash, run under DEBUG=1 too),
 * and writer round trips. */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/json.h"
#include "test.h"

static lctw_json_doc *parse_ok(const char *text) {
    lctw_json_doc *d = NULL;
    lctw_status s = lctw_json_parse(&d, text, strlen(text), NULL);
    if (s != LCTW_OK)
        test_fail_(__FILE__, __LINE__, "parse of %s failed: %s", text, lctw_error_message());
    return d;
}

/* Parses text from an exactly-sized heap copy (so ASan sees any over-read); returns status. */
static lctw_status parse_exact(const char *text, size_t n, const lctw_json_opts *o,
                               lctw_json_doc **out) {
    char *buf = malloc(n ? n : 1);
    memcpy(buf, text, n);
    lctw_json_doc *d = NULL;
    lctw_status s = lctw_json_parse(&d, buf, n, o);
    free(buf);
    if (out)
        *out = d;
    else
        lctw_json_free(d);
    return s;
}

static void t_valid_document(void) {
    const char *text = " {\"a\": [1, -2, 3.5, true, false, null, \"x\"],\n\t\"b\": {\"c\": {}}, "
                       "\"d\": [], \"\": 0}\r\n ";
    lctw_json_doc *d = parse_ok(text);
    if (!d) return;
    const lctw_json *r = lctw_json_root(d);
    CHECK(r->type == LCTW_JSON_OBJECT && r->len == 4, "root type %d len %zu", r->type, r->len);
    const lctw_json *a = lctw_json_get(r, "a");
    CHECK(a && a->type == LCTW_JSON_ARRAY && a->len == 7, "a");
    if (a && a->len == 7) {
        CHECK(a->items[0]->is_int && a->items[0]->i == 1, "a[0]");
        CHECK(a->items[1]->is_int && a->items[1]->i == -2, "a[1]");
        CHECK(!a->items[2]->is_int && a->items[2]->num == 3.5, "a[2]");
        CHECK(a->items[3]->type == LCTW_JSON_BOOL && a->items[3]->boolean == 1, "a[3]");
        CHECK(a->items[4]->type == LCTW_JSON_BOOL && a->items[4]->boolean == 0, "a[4]");
        CHECK(a->items[5]->type == LCTW_JSON_NULL, "a[5]");
        CHECK(a->items[6]->type == LCTW_JSON_STRING && !strcmp(a->items[6]->str, "x"), "a[6]");
        CHECK(a->items[0]->offset == (size_t)(strchr(text, '1') - text), "offset of a[0] %zu",
              a->items[0]->offset);
    }
    const lctw_json *c = lctw_json_get(lctw_json_get(r, "b"), "c");
    CHECK(c && c->type == LCTW_JSON_OBJECT && c->len == 0 && !c->items, "b.c");
    CHECK(lctw_json_get(r, "d") && lctw_json_get(r, "d")->len == 0, "d");
    CHECK(lctw_json_get(r, "") && lctw_json_get(r, "")->i == 0, "empty key");
    CHECK(!lctw_json_get(r, "zz") && !lctw_json_get(a, "a"), "absent keys");
    /* document order kept in items */
    CHECK(!strcmp(r->items[0]->key, "a") && !strcmp(r->items[3]->key, ""), "member order");
    /* scalars at the top level */
    const char *tops[] = {"1", "\"s\"", "null", "true", " false ", "[]", "-0.5e-3"};
    for (size_t k = 0; k < sizeof tops / sizeof *tops; k++)
        lctw_json_free(parse_ok(tops[k]));
    lctw_json_free(d);
}

static void t_numbers(void) {
    static const struct {
        const char *text;
        int is_int;
        int64_t i;
        double num;
    } cases[] = {
        {"0", 1, 0, 0.0},
        {"-0", 1, 0, -0.0},
        {"42", 1, 42, 42.0},
        {"-17", 1, -17, -17.0},
        {"9223372036854775807", 1, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", 1, INT64_MIN, -9223372036854775808.0},
        {"9223372036854775808", 0, 0, 9223372036854775808.0},
        {"-9223372036854775809", 0, 0, -9223372036854775809.0},
        {"123456789012345678901234567890", 0, 0, 123456789012345678901234567890.0},
        {"1.5", 0, 0, 1.5},
        {"-0.0", 0, 0, -0.0},
        {"0.1", 0, 0, 0.1},
        {"1e3", 0, 0, 1e3},
        {"1E+3", 0, 0, 1e3},
        {"2.5e-3", 0, 0, 2.5e-3},
        {"1.7976931348623157e308", 0, 0, 1.7976931348623157e308},
        {"4.9e-324", 0, 0, 4.9e-324},
        {"1e-400", 0, 0, 0.0},
        {"3.141592653589793238462643383279", 0, 0, 3.141592653589793238462643383279},
    };
    int n = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        lctw_json_doc *d = parse_ok(cases[k].text);
        if (!d) continue;
        const lctw_json *v = lctw_json_root(d);
        CHECK(v->type == LCTW_JSON_NUMBER, "%s: type", cases[k].text);
        CHECK(v->is_int == cases[k].is_int, "%s: is_int %d", cases[k].text, v->is_int);
        if (cases[k].is_int)
            CHECK(v->i == cases[k].i, "%s: i = %lld", cases[k].text, (long long)v->i);
        CHECK(v->num == cases[k].num && signbit(v->num) == signbit(cases[k].num),
              "%s: num = %.17g, expected %.17g", cases[k].text, v->num, cases[k].num);
        lctw_json_free(d);
        n++;
    }
    const char *bad[] = {"01",  "-",    "1.",  ".5",       "+1",        "1e",
                         "1e+", "0x10", "NaN", "Infinity", "-Infinity", "1e400",
                         "--1", "1.e5", "-01", "00",       "1.5.2",     "1e5e5"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        lctw_status s = parse_exact(bad[k], strlen(bad[k]), NULL, NULL);
        CHECK(s == LCTW_EFORMAT, "%s accepted (status %d)", bad[k], s);
        CHECK(strstr(lctw_error_message(), "JSON syntax error at byte"), "%s: message %s", bad[k],
              lctw_error_message());
        n++;
    }
    test_detail("%d cases", n);
}

static void check_string(const char *json, const char *expect, size_t expect_len) {
    lctw_json_doc *d = NULL;
    lctw_status s = parse_exact(json, strlen(json), NULL, &d);
    CHECK(s == LCTW_OK, "%s: %s", json, lctw_error_message());
    if (s != LCTW_OK) return;
    const lctw_json *v = lctw_json_root(d);
    CHECK(v->type == LCTW_JSON_STRING && v->len == expect_len &&
              !memcmp(v->str, expect, expect_len) && v->str[v->len] == 0,
          "%s decoded to %zu bytes", json, v->len);
    lctw_json_free(d);
}

static void t_strings_and_escapes(void) {
    check_string("\"\"", "", 0);
    check_string("\"plain\"", "plain", 5);
    check_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    check_string("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9", 5);
    check_string("\"\\u20ac\"", "\xe2\x82\xac", 3);            /* € */
    check_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4); /* U+1F600 via a surrogate pair */
    check_string("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
    check_string("\"a\\u0000b\"", "a\0b", 3);                  /* NUL inside: length tells */
    check_string("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                 9);
    check_string("\"\x7f\"", "\x7f", 1);
    struct {
        const char *json, *word;
    } bad[] = {
        {"\"\\ud83d\"", "surrogate"},
        {"\"\\ude00\"", "surrogate"},
        {"\"\\ud83d\\u0041\"", "surrogate"},
        {"\"\\ud83dx\"", "surrogate"},
        {"\"\\u12G4\"", "four hex"},
        {"\"\\u12\"", "four hex"},
        {"\"\\x\"", "invalid escape"},
        {"\"a\x01\"", "control character"},
        {"\"a\nb\"", "control character"},
        {"\"\xc0\xaf\"", "UTF-8"},
        {"\"\xed\xa0\x80\"", "UTF-8"},
        {"\"\xf4\x90\x80\x80\"", "UTF-8"},
        {"\"\x80\"", "UTF-8"},
        {"\"\xe2\x82\"", "UTF-8"},
        {"\"\xff\"", "UTF-8"},
        {"\"abc", "unterminated"},
        {"\"abc\\\"", "unterminated"},
        {"\"\\", "unterminated"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        lctw_status s = parse_exact(bad[k].json, strlen(bad[k].json), NULL, NULL);
        CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), bad[k].word),
              "case %zu: status %d, message '%s' lacks '%s'", k, s, lctw_error_message(),
              bad[k].word);
    }
    /* utf8 validator on its own */
    size_t at = 99;
    CHECK(lctw_utf8_valid("ok\xc3\xa9", 4, &at), "valid utf8");
    CHECK(!lctw_utf8_valid("ok\xc3", 3, &at) && at == 2, "truncated utf8 at %zu", at);
}

static void t_syntax_errors(void) {
    struct {
        const char *json;
        size_t at; /* expected byte offset in the message */
        const char *word;
    } bad[] = {
        {"", 0, "end of input"},
        {"   ", 3, "end of input"},
        {"{", 1, "end of input"},
        {"[1,]", 3, "expected a value"},
        {"{\"a\":1,}", 7, "expected a string key"},
        {"{a:1}", 1, "expected a string key"},
        {"[1 2]", 3, "expected ',' or ']'"},
        {"{\"a\" 1}", 5, "expected ':'"},
        {"{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"},
        {"tru", 0, "invalid literal"},
        {"nul", 0, "invalid literal"},
        {"True", 0, "expected a value"},
        {"[1]]", 3, "after the JSON value"},
        {"{}x", 2, "after the JSON value"},
        {"{\"a\":1}{}", 7, "after the JSON value"},
        {"'x'", 0, "expected a value"},
        {"/*c*/1", 0, "expected a value"},
        {"\xef\xbb\xbf{}", 0, "byte 0xef"},
        {"[1,\x0b 2]", 3, "expected a value"},
        {"{\"a\":1,\"b\":2,\"a\":3}", 17, "duplicate key \"a\""},
        {"{\"k\":{\"x\":1,\"x\":1}}", 16, "duplicate key \"x\""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        lctw_status s = parse_exact(bad[k].json, strlen(bad[k].json), NULL, NULL);
        char want[64];
        snprintf(want, sizeof want, "JSON syntax error at byte %zu:", bad[k].at);
        CHECK(s == LCTW_EFORMAT && strstr(lctw_error_message(), want) &&
                  strstr(lctw_error_message(), bad[k].word),
              "case %zu '%s': status %d, message '%s' (want '%s' and '%s')", k, bad[k].json, s,
              lctw_error_message(), want, bad[k].word);
    }
    /* duplicate keys that differ after an embedded NUL are distinct keys */
    lctw_json_doc *d = parse_ok("{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}");
    if (d) {
        const lctw_json *r = lctw_json_root(d);
        CHECK(lctw_json_getn(r, "a\0c", 3) && lctw_json_getn(r, "a\0c", 3)->i == 2, "getn NUL");
        CHECK(lctw_json_get(r, "a") && lctw_json_get(r, "a")->i == 3, "get a");
    }
    lctw_json_free(d);
    test_detail("%zu documents", sizeof bad / sizeof *bad);
}

static char *nested(int depth, size_t *len) {
    char *s = malloc((size_t)depth * 2 + 1);
    for (int k = 0; k < depth; k++)
        s[k] = '[';
    for (int k = 0; k < depth; k++)
        s[depth + k] = ']';
    s[2 * depth] = 0;
    *len = (size_t)depth * 2;
    return s;
}

static void t_depth_limit(void) {
    size_t n;
    char *s = nested(LCTW_JSON_DEFAULT_DEPTH, &n);
    CHECK(parse_exact(s, n, NULL, NULL) == LCTW_OK, "depth 64: %s", lctw_error_message());
    free(s);
    s = nested(LCTW_JSON_DEFAULT_DEPTH + 1, &n);
    CHECK(parse_exact(s, n, NULL, NULL) == LCTW_EFORMAT &&
              strstr(lctw_error_message(), "nesting deeper than 64") &&
              strstr(lctw_error_message(), "at byte 64"),
          "depth 65: %s", lctw_error_message());
    free(s);
    lctw_json_opts o = {.max_depth = 3};
    CHECK(parse_exact("{\"a\":[{}]}", 10, &o, NULL) == LCTW_OK, "depth 3 with limit 3");
    CHECK(parse_exact("{\"a\":[{\"b\":[]}]}", 16, &o, NULL) == LCTW_EFORMAT, "depth 4, limit 3");
    /* a very deep document fails fast instead of exhausting the stack */
    s = nested(200000, &n);
    CHECK(parse_exact(s, n / 2, NULL, NULL) == LCTW_EFORMAT, "200000 '['");
    free(s);
}

static void t_lookup_many_keys(void) {
    /* 2000 keys in a scrambled order; every lookup finds its own value */
    enum { N = 2000 };
    char *buf = malloc(N * 24 + 8), *p = buf;
    *p++ = '{';
    for (int k = 0; k < N; k++) {
        int key = (k * 7919) % N;
        p += sprintf(p, "%s\"k%d\":%d", k ? "," : "", key, key * 3);
    }
    *p++ = '}';
    lctw_json_doc *d = NULL;
    CHECK(parse_exact(buf, (size_t)(p - buf), NULL, &d) == LCTW_OK, "%s", lctw_error_message());
    if (d) {
        const lctw_json *r = lctw_json_root(d);
        int found = 0;
        for (int k = 0; k < N; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            const lctw_json *v = lctw_json_get(r, key);
            if (v && v->is_int && v->i == k * 3) found++;
        }
        CHECK(found == N, "found %d of %d", found, N);
        CHECK(!lctw_json_get(r, "k2000") && !lctw_json_get(r, "k") && !lctw_json_get(r, ""),
              "absent keys");
        test_detail("%d keys, tree %zu bytes", N, lctw_json_doc_memory(d));
    }
    lctw_json_free(d);
    free(buf);
}

static void t_memory_limit(void) {
    /* 200000 numbers need far more than 1 MiB of nodes */
    size_t n = 200000;
    char *s = malloc(2 * n + 2);
    s[0] = '[';
    for (size_t k = 0; k < n; k++) {
        s[1 + 2 * k] = '7';
        s[2 + 2 * k] = k + 1 < n ? ',' : ']';
    }
    lctw_json_opts o = {.max_memory = 1 << 20};
    lctw_status st = parse_exact(s, 2 * n + 1, &o, NULL);
    CHECK(st == LCTW_ENOMEM && strstr(lctw_error_message(), "memory"), "status %d: %s", st,
          lctw_error_message());
    lctw_json_doc *d = NULL;
    CHECK(parse_exact(s, 2 * n + 1, NULL, &d) == LCTW_OK, "default limit: %s",
          lctw_error_message());
    if (d) {
        CHECK(lctw_json_root(d)->len == n, "len");
        test_detail("%zu numbers: %zu bytes of tree", n, lctw_json_doc_memory(d));
    }
    lctw_json_free(d);
    free(s);
}

static const char full_doc[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\ud83d\\ude00 \xe2\x82\xac "
    "\\\"q\\\"\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"x\":[true,false,null,-1.5e-3,0,12345678901234567890,[],{}],\"y\":-0}";

static void t_truncation_every_byte(void) {
    size_t n = strlen(full_doc);
    CHECK(parse_exact(full_doc, n, NULL, NULL) == LCTW_OK, "full: %s", lctw_error_message());
    int errors = 0;
    for (size_t k = 0; k < n; k++) {
        lctw_status s = parse_exact(full_doc, k, NULL, NULL);
        if (s == LCTW_EFORMAT)
            errors++;
        else
            CHECK(0, "prefix of %zu bytes: status %d", k, s);
    }
    test_detail("%zu prefixes, all rejected: %d", n, errors);
}

static void t_mutations_never_crash(void) {
    size_t n = strlen(full_doc);
    const char repl[] = "{}[]\",:\\0-e.9 u\x80\xff\x00tfn";
    char *buf = malloc(n);
    int ok = 0, err = 0;
    for (size_t k = 0; k < n; k++) {
        for (size_t r = 0; r < sizeof repl - 1; r++) {
            memcpy(buf, full_doc, n);
            buf[k] = repl[r];
            lctw_status s = parse_exact(buf, n, NULL, NULL);
            if (s == LCTW_OK)
                ok++;
            else if (s == LCTW_EFORMAT)
                err++;
            else
                CHECK(0, "byte %zu -> 0x%02x: status %d", k, (unsigned char)repl[r], s);
        }
    }
    free(buf);
    test_detail("%d accepted, %d rejected", ok, err);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void t_writer_round_trip(void) {
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    char ctl[40];
    for (int k = 0; k < 32; k++)
        ctl[k] = (char)(k + 1 < 32 ? k + 1 : 0x7f);
    ctl[32] = '"';
    ctl[33] = '\\';
    memcpy(ctl + 34, "\xc3\xa9/", 3);
    size_t ctl_len = 37;
    enum { ND = 500 };
    double dv[ND];
    for (int k = 0; k < ND; k++) {
        do {
            uint64_t b = next_u64();
            memcpy(&dv[k], &b, sizeof dv[k]);
        } while (!isfinite(dv[k]));
    }
    dv[0] = 0.1;
    dv[1] = -0.0;
    dv[2] = 5e-324;
    dv[3] = 1e22;
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_key(&w, "s");
    lctw_json_writer_stringn(&w, ctl, ctl_len);
    lctw_json_writer_keyn(&w, "k\0ey", 4);
    lctw_json_writer_stringn(&w, "a\0b", 3);
    lctw_json_writer_key(&w, "ints");
    lctw_json_writer_begin_array(&w);
    lctw_json_writer_int(&w, INT64_MIN);
    lctw_json_writer_int(&w, INT64_MAX);
    lctw_json_writer_int(&w, 0);
    lctw_json_writer_end_array(&w);
    lctw_json_writer_key(&w, "d");
    lctw_json_writer_begin_array(&w);
    for (int k = 0; k < ND; k++)
        lctw_json_writer_number(&w, dv[k]);
    lctw_json_writer_end_array(&w);
    lctw_json_writer_key(&w, "e");
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_end_object(&w);
    lctw_json_writer_key(&w, "b");
    lctw_json_writer_bool(&w, 1);
    lctw_json_writer_key(&w, "n");
    lctw_json_writer_null(&w);
    lctw_json_writer_end_object(&w);
    char *text;
    size_t len;
    lctw_status s = lctw_json_writer_finish(&w, &text, &len);
    CHECK(s == LCTW_OK, "finish: %s", lctw_error_message());
    if (s != LCTW_OK) return;
    CHECK(strlen(text) == len, "length");
    lctw_json_doc *d = NULL;
    CHECK(parse_exact(text, len, NULL, &d) == LCTW_OK, "reparse: %s", lctw_error_message());
    if (d) {
        const lctw_json *r = lctw_json_root(d), *v = lctw_json_get(r, "s");
        CHECK(v && v->len == ctl_len && !memcmp(v->str, ctl, ctl_len), "control string");
        v = lctw_json_getn(r, "k\0ey", 4);
        CHECK(v && v->len == 3 && !memcmp(v->str, "a\0b", 3), "NUL key/value");
        v = lctw_json_get(r, "ints");
        CHECK(v && v->len == 3 && v->items[0]->i == INT64_MIN && v->items[1]->i == INT64_MAX,
              "ints");
        v = lctw_json_get(r, "d");
        int exact = 0;
        for (int k = 0; v && k < ND && k < (int)v->len; k++)
            if (!memcmp(&v->items[k]->num, &dv[k], sizeof dv[k])) exact++;
        CHECK(exact == ND, "%d of %d doubles bit-exact", exact, ND);
        CHECK(lctw_json_get(r, "b")->boolean == 1 && lctw_json_get(r, "n")->type == LCTW_JSON_NULL,
              "bool/null");
        /* the tree writes back to the same text (canonical form), also via an indented pass */
        lctw_json_writer w2;
        lctw_json_writer_init(&w2, 0);
        lctw_json_writer_value(&w2, r);
        char *t2;
        size_t l2;
        CHECK(lctw_json_writer_finish(&w2, &t2, &l2) == LCTW_OK && l2 == len &&
                  !memcmp(t2, text, len),
              "rewrite differs");
        free(t2);
        lctw_json_writer_init(&w2, 2);
        lctw_json_writer_value(&w2, r);
        CHECK(lctw_json_writer_finish(&w2, &t2, &l2) == LCTW_OK && strchr(t2, '\n'), "indent");
        lctw_json_doc *d2 = NULL;
        CHECK(parse_exact(t2, l2, NULL, &d2) == LCTW_OK, "indented reparse");
        if (d2) CHECK(lctw_json_root(d2)->len == r->len, "indented members");
        lctw_json_free(d2);
        free(t2);
        test_detail("%zu bytes", len);
    }
    lctw_json_free(d);
    free(text);
}

static void t_writer_errors(void) {
    lctw_json_writer w;
    char *t;
    size_t n;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_number(&w, NAN);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL && !t &&
              strstr(lctw_error_message(), "NaN"),
          "NaN: %s", lctw_error_message());
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_string(&w, "bad \xc3\x28");
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL &&
              strstr(lctw_error_message(), "UTF-8"),
          "utf8: %s", lctw_error_message());
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_key(&w, "k");
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL, "key at top level");
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_int(&w, 1);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL &&
              strstr(lctw_error_message(), "needs a key"),
          "value without key");
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_array(&w);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL &&
              strstr(lctw_error_message(), "incomplete"),
          "incomplete");
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_array(&w);
    lctw_json_writer_end_object(&w);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL, "mismatched end");
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_int(&w, 1);
    lctw_json_writer_int(&w, 2);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL, "two top-level values");
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_begin_object(&w);
    lctw_json_writer_key(&w, "a");
    lctw_json_writer_end_object(&w);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_EINVAL, "key without value");
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_int(&w, 5);
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_OK && !strcmp(t, "5"), "plain int");
    free(t);
}

static void t_locale_independent(void) {
    const char *loc = NULL;
    const char *cands[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8", NULL};
    for (int k = 0; cands[k] && !loc; k++)
        loc = setlocale(LC_NUMERIC, cands[k]);
    if (!loc) SKIP("no locale with a decimal comma installed (de_DE/fr_FR/ru_RU)");
    lctw_json_doc *d = parse_ok("[1.5]");
    if (d) CHECK(lctw_json_root(d)->items[0]->num == 1.5, "parsed under %s", loc);
    lctw_json_free(d);
    lctw_json_writer w;
    lctw_json_writer_init(&w, 0);
    lctw_json_writer_number(&w, 2.25);
    char *t;
    size_t n;
    CHECK(lctw_json_writer_finish(&w, &t, &n) == LCTW_OK && !strcmp(t, "2.25"), "wrote %s", t);
    free(t);
    setlocale(LC_NUMERIC, "C");
    test_detail("under %s", loc);
}

int main(void) {
    RUN(t_valid_document);
    RUN(t_numbers);
    RUN(t_strings_and_escapes);
    RUN(t_syntax_errors);
    RUN(t_depth_limit);
    RUN(t_lookup_many_keys);
    RUN(t_memory_limit);
    RUN(t_truncation_every_byte);
    RUN(t_mutations_never_crash);
    RUN(t_writer_round_trip);
    RUN(t_writer_errors);
    RUN(t_locale_independent);
    return test_summary();
}
