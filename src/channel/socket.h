/*
 * channel/socket: the Phoenix socket of one WebSocket connection: its
 * channels, each joined to a hub topic, and the channel protocol on top
 * (heartbeat, phx_join / phx_leave / phx_reply / phx_close, access_token,
 * broadcast, presence), authenticated by JWT and rate-limited.
 * It is the WebSocket handler net/conn calls (chan_socket_ws), installed
 * by whoever upgrades a connection. It decodes messages and talks to the
 * hub; it never touches sockets (it sends through net/conn) and never
 * parses frames. The module's files: socket.c (the socket, dispatch,
 * replies), join.c (joins and leaves), token.c (tokens), fanout.c
 * (broadcast, presence, delivery); chan_int.h is what they share.
 */
#ifndef TC_CHANNEL_SOCKET_H
#define TC_CHANNEL_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "net/conn.h"
#include "proto/msg.h"

typedef struct chan_socket chan_socket_t;

/* The limits a socket enforces (util/config names them). */
typedef struct {
    int max_channels;      /* per connection */
    int events_per_second; /* per connection, all inbound messages */
    int joins_per_second;
    int presence_per_second;          /* track/untrack */
    int max_bindings_per_join;        /* postgres_changes bindings in one join */
    int max_bindings_per_conn;        /* ... across a connection's channels */
    int max_filter_bytes;             /* one binding's filter text */
    int max_presence_bytes;           /* a presence payload (JSON text) or key */
    int max_presence_per_conn;        /* channels one connection tracks presence on */
    int max_channels_per_ip;          /* joined channels from one client address (0: no limit) */
    int replication_ready_timeout_ms; /* config.broadcast.replication_ready: wait for the stream this long */
} chan_config_t;

/* From main, before the workers start: copies cfg; keys are borrowed
 * (they must outlive every socket). */
void chan_socket_init(const chan_config_t *cfg, const jwt_keyring_t *keys);

/* A socket for connection c. apikey: the token of the connection, used
 * when a join carries none (copied). Free with chan_socket_free, which
 * leaves every channel (presence leaves are published). */
chan_socket_t *chan_socket_new(conn_t *c, msg_vsn_t vsn, const char *apikey, int log_debug);
void chan_socket_free(chan_socket_t *s);

/* The WebSocket handler table for conn_upgrade; ud is a chan_socket_t the
 * connection then owns (freed through close). */
extern const conn_ws_handler_t chan_socket_ws;
/* The whole upgrade in one call: conn_upgrade(c, accept_key,
 * &chan_socket_ws, chan_socket_new(c, vsn, apikey, log_debug)). */
void chan_socket_upgrade(conn_t *c, const char *accept_key, msg_vsn_t vsn, const char *apikey, int log_debug);

/* One complete WebSocket message (opcode TEXT or BINARY). */
void chan_socket_on_message(chan_socket_t *s, int opcode, const uint8_t *data, size_t len);
/* Once a second: closes channels whose token expired. */
void chan_socket_tick(chan_socket_t *s, int64_t now_s);
/* Number of joined channels. */
int chan_socket_channels(const chan_socket_t *s);

#endif
