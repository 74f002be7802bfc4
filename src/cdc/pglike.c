/*
 * cdc/pglike: see pglike.h. Owns the LIKE matcher and the argument for its
 * bound (below). It must never recurse or allocate: it runs per change per
 * subscriber on cells a customer controls.
 */
#include "cdc/pglike.h"
#include "cdc/pgchar.h"

#include <string.h>

/*
 * An iterative matcher that backtracks only to the last '%'.
 *
 * Why backtracking to the last '%' only is enough, and why it is
 * O(text x pattern): the pieces between '%'s are tried at increasing text
 * positions, so when a later '%' is reached the pattern before it has
 * matched the shortest prefix it can; any other way of matching it ends
 * further right, where the new '%' could skip to anyway, so earlier '%'s
 * never need retrying. star_t only moves forward (it restarts at ti, never
 * behind it), so each text position starts at most one attempt, and an
 * attempt runs at most to the next '%': "%a%a%a%b" over a long text is
 * linear, "%aaaa...b" is text x pattern, nothing is worse.
 * Each loop step, and each byte skipped looking for a piece's first
 * literal, costs one unit of *left; -1 when it runs out.
 */

int pglike_match(const char *t, size_t tn, const char *p, size_t pn, int fold, uint64_t *left) {
    size_t ti = 0, pi = 0, star_p = (size_t)-1, star_t = 0;
    /* Steps are counted on the way and checked at each backtrack: between
     * two backtracks pi only moves forward, so a run is at most the
     * pattern's length past the budget, and the step loop stays lean. */
    uint64_t steps = 0, l = *left;
    while (ti < tn) {
        steps++;
        if (pi < pn) {
            char pc = p[pi];
            if (pc == '%') {
                star_p = ++pi;
                star_t = ti;
                if (pi == pn)
                    break; /* a trailing '%' takes the rest of the text */
                continue;
            }
            if (pc == '_') {
                ti += (unsigned char)t[ti] < 0x80 ? 1 : pgc_u8len((const unsigned char *)t + ti, tn - ti);
                pi++;
                continue;
            }
            size_t adv = 1;
            if (pc == '\\' && pi + 1 < pn) {
                pc = p[pi + 1];
                adv = 2;
            }
            int a = (unsigned char)pc, b = (unsigned char)t[ti];
            if (fold) {
                a = pgc_tolower(a);
                b = pgc_tolower(b);
            }
            if (a == b) {
                ti++;
                pi += adv;
                continue;
            }
        }
        if (star_p == (size_t)-1)
            break;
        if (steps > l)
            goto out;
        star_t += (unsigned char)t[star_t] < 0x80 ? 1 : pgc_u8len((const unsigned char *)t + star_t, tn - star_t);
        /* An attempt where the text lacks the piece's first literal fails
         * on its first step: find the next one in one scan, at one step per
         * byte skipped. Only for an ASCII literal, whose every occurrence is
         * a character boundary (no UTF-8 sequence holds a byte < 0x80). */
        unsigned char lit = (unsigned char)p[star_p];
        if (lit == '\\' && star_p + 1 < pn)
            lit = (unsigned char)p[star_p + 1];
        else if (lit == '_' || lit == '%')
            lit = 0x80;
        if (lit < 0x80 && star_t < tn) {
            size_t from = star_t;
            if (!fold) {
                const char *q = memchr(t + star_t, lit, tn - star_t);
                star_t = q ? (size_t)(q - t) : tn;
            } else {
                int lc = pgc_tolower(lit);
                while (star_t < tn && pgc_tolower((unsigned char)t[star_t]) != lc)
                    star_t++;
            }
            steps += star_t - from;
        }
        ti = star_t;
        pi = star_p;
    }
    while (pi < pn && p[pi] == '%') {
        steps++;
        pi++;
    }
    if (steps > l)
        goto out;
    *left = l - steps;
    return pi == pn && (ti >= tn || star_p == pn);
out:
    *left = 0;
    return -1;
}

int pglike_ends_with_escape(const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (p[i] == '\\') {
            if (i + 1 >= n)
                return 1;
            i += 2;
        } else {
            i++;
        }
    }
    return 0;
}
