/*
 * net/peer: what the server keeps per client address. Connections of one
 * address share an entry and its limit, an IPv4-mapped IPv6 address is the
 * IPv4 one, an IPv6 /64 is one client, channel counts are bounded, and the
 * table keeps every entry findable through growth, removal (backward-shift
 * deletion) and several threads opening and closing at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "net/peer.h"

static struct sockaddr_in v4(uint32_t ip) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ip);
    return a;
}

static peer_t *open_v4(uint32_t ip, int max) {
    struct sockaddr_in a = v4(ip);
    return peer_conn_open((struct sockaddr *)&a, max);
}

static peer_t *open_v6(const char *text) {
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
    return peer_conn_open((struct sockaddr *)&a, 0);
}

static void one_address_one_entry(void **state) {
    (void)state;
    peer_t *p1 = open_v4(0x0a000001, 2), *p2 = open_v4(0x0a000001, 2);
    assert_non_null(p1);
    assert_ptr_equal(p1, p2);
    assert_int_equal(peer_conns(p1), 2);
    assert_null(open_v4(0x0a000001, 2)); /* over its limit of 2 */
    assert_string_equal(peer_text(p1), "10.0.0.1");
    peer_t *mapped = open_v6("::ffff:10.0.0.1");
    assert_ptr_equal(mapped, p1);
    assert_int_equal(peer_conns(p1), 3);
    for (int i = 0; i < 3; i++)
        peer_conn_close(p1);
}

static void ipv6_slash64_and_channels(void **state) {
    (void)state;
    peer_t *x = open_v6("2001:db8:1:2::1"), *y = open_v6("2001:db8:1:2:ffff::9");
    assert_ptr_equal(x, y);
    assert_string_equal(peer_text(x), "2001:db8:1:2::/64");
    peer_t *other = open_v6("2001:db8:1:3::1");
    assert_ptr_not_equal(other, x);
    peer_conn_close(other);
    assert_int_equal(peer_channel_add(x, 1), 0);
    assert_int_equal(peer_channel_add(x, 1), -1); /* at most 1 */
    assert_int_equal(peer_channels(x), 1);
    peer_channel_remove(x);
    peer_conn_close(x);
    peer_conn_close(y);
}

static void many_addresses_with_churn(void **state) {
    (void)state;
    enum { N = 50000 };
    static peer_t *many[N];
    for (uint32_t i = 0; i < N; i++) {
        many[i] = open_v4(0x20000000 + i, 1);
        assert_non_null(many[i]);
        assert_int_equal(peer_conns(many[i]), 1);
    }
    for (uint32_t i = 0; i < N; i += 2)
        peer_conn_close(many[i]);
    /* The odd ones are still there, each at its limit: found, not new. */
    for (uint32_t i = 1; i < N; i += 2)
        assert_null(open_v4(0x20000000 + i, 1));
    for (uint32_t i = 0; i < N; i += 2) {
        many[i] = open_v4(0x20000000 + i, 1);
        assert_int_equal(peer_conns(many[i]), 1);
    }
    for (uint32_t i = 0; i < N; i++)
        peer_conn_close(many[i]);
}

static void *churn(void *arg) {
    uint32_t base = (uint32_t)(uintptr_t)arg;
    for (int rep = 0; rep < 200; rep++) {
        peer_t *ps[100];
        for (uint32_t i = 0; i < 100; i++)
            if (!(ps[i] = open_v4(base + i, 0)))
                return (void *)1;
        for (int i = 0; i < 100; i++) {
            if (peer_channel_add(ps[i], 0) != 0)
                return (void *)1;
            peer_channel_remove(ps[i]);
            peer_conn_close(ps[i]);
        }
    }
    return NULL;
}

static void threads_open_and_close(void **state) {
    (void)state;
    pthread_t t[4];
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(0x30000000u + i * 50)), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_address_one_entry),
        cmocka_unit_test(ipv6_slash64_and_channels),
        cmocka_unit_test(many_addresses_with_churn),
        cmocka_unit_test(threads_open_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
