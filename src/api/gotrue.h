/*
 * api/gotrue: the subset of Supabase Auth (GoTrue) that supabase-js's auth
 * client calls: password sign-in and refresh-token rotation
 * (POST /auth/v1/token), sign-up, logout, the current user (GET/PUT
 * /auth/v1/user) and the admin users endpoints for the service_role key.
 * Passwords, sessions and refresh tokens live in the database (bcrypt via
 * pgcrypto, in the auth.tc_* functions of db/migrations/002_auth.sql); this
 * module validates requests, calls those functions through the worker's
 * pool, and signs the HS256 access tokens. It never sees a password hash.
 */
#ifndef TC_API_GOTRUE_H
#define TC_API_GOTRUE_H

#include "auth/jwt.h"

/* Registers /auth/v1/... into http/routes. jwt_secret signs access tokens
 * (NULL: every auth request answers 503), valid jwt_exp seconds; keys
 * verify bearer tokens. None is copied: all must outlive the workers. */
void gotrue_register(const char *jwt_secret, int jwt_exp, const jwt_keyring_t *keys);

#endif
