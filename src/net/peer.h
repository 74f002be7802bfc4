/*
 * net/peer: what each client address holds across every worker: its open
 * connections and joined channels, and the per-address limits on both, so
 * one host cannot take every file descriptor or fill the channel tables.
 * An IPv6 address counts by its /64 (one host usually owns a whole /64);
 * an IPv4-mapped IPv6 address counts as the IPv4 address.
 * Safe from any worker (striped mutexes, taken at connect, close, join and
 * leave, never per message). It never decides what a refusal says.
 */
#ifndef TC_NET_PEER_H
#define TC_NET_PEER_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct peer peer_t;

/* Counts one more connection from addr. Returns its entry (release with
 * peer_conn_close), or NULL when addr already has max connections open
 * (max 0: no limit). */
peer_t *peer_conn_open(const struct sockaddr *addr, int max);
void peer_conn_close(peer_t *p);

/* Counts one more joined channel; 0, or -1 (nothing counted) when the
 * address already has max (max 0: no limit). */
int peer_channel_add(peer_t *p, int max);
void peer_channel_remove(peer_t *p);

/* A stable number for the address (its /64 for IPv6) while it has
 * connections: budgets that are per address key on it. */
uint64_t peer_key(const peer_t *p);
/* The address as text (without port), for logs. */
const char *peer_text(const peer_t *p);

/* Connections and channels counted now for the address of p (tests, logs). */
int peer_conns(const peer_t *p);
int peer_channels(const peer_t *p);

#endif
