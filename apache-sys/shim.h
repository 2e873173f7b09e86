/* Functions standing in for what httpd and APR only provide as macros or
 * inline code, so that Rust can call them. */
#ifndef MOD_WSGI_SHIM_H
#define MOD_WSGI_SHIM_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_buckets.h>

void *wsgi_shim_get_module_config(const ap_conf_vector_t *cv, const module *m);
void wsgi_shim_set_module_config(ap_conf_vector_t *cv, const module *m, void *val);

void wsgi_shim_brigade_append(apr_bucket_brigade *bb, apr_bucket *b);
int wsgi_shim_brigade_empty(const apr_bucket_brigade *bb);
int wsgi_shim_brigade_ends_with_eos(const apr_bucket_brigade *bb);
int wsgi_shim_brigade_has_eos(const apr_bucket_brigade *bb);

/* Appends data (transient, so filters copy it if they keep it), then a
 * flush bucket when flush is non-zero. */
void wsgi_shim_brigade_append_transient(apr_bucket_brigade *bb, const char *data,
                                        apr_size_t len, int flush);
void wsgi_shim_brigade_append_flush(apr_bucket_brigade *bb);
void wsgi_shim_brigade_append_eos(apr_bucket_brigade *bb);
/* Appends an error bucket followed by EOS: tells httpd's HTTP filters that
 * the response broke after its head was sent (no last chunk, no keep-alive). */
void wsgi_shim_brigade_append_broken(apr_bucket_brigade *bb, int status, apr_pool_t *p);

/* Level checks done by the ap_log_*error macros before formatting. */
int wsgi_shim_log_server_is_level(const server_rec *s, int module_index, int level);
int wsgi_shim_log_request_is_level(const request_rec *r, int module_index, int level);

/* The entries of a table (apr_table_elts is a macro). */
const apr_array_header_t *wsgi_shim_table_elts(const apr_table_t *t);

/* conn_rec and request_rec bitfields. */
int wsgi_shim_connection_aborted(const conn_rec *c);
void wsgi_shim_connection_set_close(conn_rec *c);
/* Marks the client connection as gone: nothing more is written to it. */
void wsgi_shim_connection_abort(conn_rec *c);

#endif
