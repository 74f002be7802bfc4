/*
 * api/realtime: the realtime endpoints over plain HTTP: the WebSocket
 * handshake, the broadcast API, /health and /metrics (see realtime.c).
 */
#ifndef TC_API_REALTIME_H
#define TC_API_REALTIME_H

#include "auth/jwt.h"

/* Registers the routes into http/routes. keys (not owned; must outlive the
 * workers) verify every apikey and bearer token; allow_client_log_level:
 * whether a client's ?log_level=debug is honoured. */
void rtapi_register(const jwt_keyring_t *keys, int allow_client_log_level);

#endif
