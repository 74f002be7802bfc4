/*
 * channel/socket: the Phoenix socket of one WebSocket connection: its
 * channels, each joined to a hub topic, and the channel protocol on top
 * (heartbeat, phx_join / phx_leave / phx_reply / phx_close, access_token,
 * broadcast, presence), authenticated by JWT and rate-limited.
 * It decodes messages and talks to the hub; it never touches sockets (it
 * sends through net/conn) and never parses frames.
 */
#ifndef TC_CHANNEL_SOCKET_H
#define TC_CHANNEL_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "proto/msg.h"

typedef struct chan_socket chan_socket_t;

/* A socket for connection c. apikey: the token of the connection, used
 * when a join carries none (copied). Free with chan_socket_free, which
 * leaves every channel (presence leaves are published). */
chan_socket_t *chan_socket_new(conn_t *c, msg_vsn_t vsn, const char *apikey, int log_debug);
void chan_socket_free(chan_socket_t *s);

/* One complete WebSocket message (opcode TEXT or BINARY). */
void chan_socket_on_message(chan_socket_t *s, int opcode, const uint8_t *data, size_t len);
/* Once a second: closes channels whose token expired. */
void chan_socket_tick(chan_socket_t *s, int64_t now_s);
/* Number of joined channels. */
int chan_socket_channels(const chan_socket_t *s);

#endif
