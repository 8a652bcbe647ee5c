/* INCRBYFLOAT arithmetic in C's long double, because Redis does it that way and its
 * replies (for instance 10.5 + 0.1 = "10.6") depend on the 80-bit intermediate.
 * Rust has no long double, so this file is the one place where C does the work.
 * Parsing follows Redis's string2ld and formatting its ld2string(LD_STR_HUMAN). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS + 1];
    char *end;
    /* Redis's buffer is MAX_LONG_DOUBLE_CHARS bytes with its terminator, so the
     * longest text it reads is one byte shorter. */
    if (len == 0 || len >= MAX_LONG_DOUBLE_CHARS) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len) return 0;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* Returns the length written to out, or -1 when it does not fit. */
static int format_ld(long double v, char *out, size_t cap) {
    int l;
    if (isinf(v)) {
        l = snprintf(out, cap, v > 0 ? "inf" : "-inf");
        return (size_t)l < cap ? l : -1;
    }
    l = snprintf(out, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > cap) return -1;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}

/* value (absent when value == NULL) + incr. Returns the formatted length, or
 * -1 when value is not a float, -2 when incr is not, -3 for NaN or infinity,
 * -4 when the result does not fit in out. */
int redoubt_ld_add(const char *value, size_t vlen, const char *incr, size_t ilen, char *out, size_t cap) {
    long double v = 0, i;
    if (value != NULL && !parse_ld(value, vlen, &v)) return -1;
    if (!parse_ld(incr, ilen, &i)) return -2;
    v += i;
    if (isnan(v) || isinf(v)) return -3;
    int l = format_ld(v, out, cap);
    return l < 0 ? -4 : l;
}

/* A blocking command's timeout, as Redis 7.0's getTimeoutFromObjectOrReply reads
 * seconds: strtold, times 1000, rounded up (ceill), then converted to long long the
 * way x86 converts (a value out of range becomes LLONG_MIN, so "inf" and 1e30 come out
 * negative, as in Redis). Returns 0 when s is not a float. */
int redoubt_ld_timeout_ms(const char *s, size_t len, long long *out) {
    long double v;
    if (!parse_ld(s, len, &v)) return 0;
    long double ms = ceill(v * 1000.0L);
    if (ms >= -9223372036854775808.0L && ms < 9223372036854775808.0L)
        *out = (long long)ms;
    else
        *out = LLONG_MIN;
    return 1;
}
