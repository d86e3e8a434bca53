/* test.h — a minimal C test harness: one line per case, a summary, non-zero exit on failure.
 *
 *   static void t_something(void) { CHECK(x == 1, "x=%d", x); CHECK_NEAR(a, b, 1e-6); }
 *   int main(void) { RUN(t_something); ...; return test_summary(); }
 *
 * A case passes when none of its checks failed; SKIP("why") ends a case as skipped. Output:
 *   PASS file: case [detail]     FAIL file: case: message     SKIP file: case: why
 */
#ifndef LCTW_TEST_H
#define LCTW_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_skipped;
static int case_failed, case_skipped;
static char case_detail[256];
static char case_msg[512];
static const char *test_file_name = __BASE_FILE__;

static void test_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static void test_fail_(const char *file, int line, const char *fmt, ...) {
    if (case_failed++) return; /* report the first failure of a case */
    const char *b = strrchr(file, '/');
    int k = snprintf(case_msg, sizeof case_msg, "%s:%d: ", b ? b + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_msg + k, sizeof case_msg - (size_t)k, fmt, ap);
    va_end(ap);
}

/* Optional note printed after PASS (e.g. the measured error). */
static void test_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void test_detail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_detail, sizeof case_detail, fmt, ap);
    va_end(ap);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) test_fail_(__FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        lctw_status st_ = (expr);                                                                  \
        if (st_ != LCTW_OK)                                                                        \
            test_fail_(__FILE__, __LINE__, "%s failed: %s", #expr, lctw_error_message());          \
    } while (0)
/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                              \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_)))                                        \
            test_fail_(__FILE__, __LINE__, "%s = %.9g, expected %.9g", #a, a_, b_);                \
    } while (0)
#define CHECK_NEAR(a, b, tol) CHECK_CLOSE(a, b, tol, 0.0)
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        case_skipped = 1;                                                                          \
        snprintf(case_msg, sizeof case_msg, __VA_ARGS__);                                          \
        return;                                                                                    \
    } while (0)

static const char *test_base_(const char *f) {
    const char *b = strrchr(f, '/');
    return b ? b + 1 : f;
}

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        case_failed = case_skipped = 0;                                                            \
        case_detail[0] = case_msg[0] = 0;                                                          \
        fn();                                                                                      \
        const char *n_ = #fn;                                                                      \
        if (!strncmp(n_, "t_", 2)) n_ += 2;                                                        \
        if (case_failed) {                                                                         \
            test_failed++;                                                                         \
            printf("FAIL %s: %s: %s\n", test_base_(test_file_name), n_, case_msg);                 \
        } else if (case_skipped) {                                                                 \
            test_skipped++;                                                                        \
            printf("SKIP %s: %s: %s\n", test_base_(test_file_name), n_, case_msg);                 \
        } else {                                                                                   \
            test_passed++;                                                                         \
            printf("PASS %s: %s%s%s\n", test_base_(test_file_name), n_, case_detail[0] ? " " : "", \
                   case_detail);                                                                   \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static int test_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

#endif
