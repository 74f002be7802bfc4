/*
 * auth/gotrue: the subset of Supabase Auth (GoTrue) that supabase-js's auth
 * client calls: password sign-in and refresh-token rotation
 * (POST /auth/v1/token), sign-up, logout, the current user (GET/PUT
 * /auth/v1/user) and the admin users endpoints for the service_role key.
 * Passwords, sessions and refresh tokens live in the database (bcrypt via
 * pgcrypto, in the auth.tc_* functions of db/migrations/002_auth.sql); this
 * module validates requests, calls those functions through the worker's
 * pool, and signs the HS256 access tokens. It never sees a password hash.
 */
#ifndef TC_AUTH_GOTRUE_H
#define TC_AUTH_GOTRUE_H

#include "http/request.h"
#include "net/conn.h"

/* path: the request path starting with /auth/v1/. */
void gotrue_handle(conn_t *c, http_req_t *req, const char *path);

#endif
