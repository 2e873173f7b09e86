#include "shim.h"

#include <http_protocol.h>

void *wsgi_shim_get_module_config(const ap_conf_vector_t *cv, const module *m)
{
    return ((void **)cv)[m->module_index];
}

void wsgi_shim_set_module_config(ap_conf_vector_t *cv, const module *m, void *val)
{
    ((void **)cv)[m->module_index] = val;
}

void wsgi_shim_brigade_append(apr_bucket_brigade *bb, apr_bucket *b)
{
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

int wsgi_shim_brigade_empty(const apr_bucket_brigade *bb)
{
    return APR_BRIGADE_EMPTY(bb);
}

int wsgi_shim_brigade_ends_with_eos(const apr_bucket_brigade *bb)
{
    return !APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb));
}

int wsgi_shim_brigade_has_eos(const apr_bucket_brigade *bb)
{
    apr_bucket *b;
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b))
            return 1;
    }
    return 0;
}

void wsgi_shim_brigade_append_transient(apr_bucket_brigade *bb, const char *data,
                                        apr_size_t len, int flush)
{
    apr_bucket *b = apr_bucket_transient_create(data, len, bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
    if (flush) {
        b = apr_bucket_flush_create(bb->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, b);
    }
}

void wsgi_shim_brigade_append_flush(apr_bucket_brigade *bb)
{
    apr_bucket *b = apr_bucket_flush_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void wsgi_shim_brigade_append_eos(apr_bucket_brigade *bb)
{
    apr_bucket *b = apr_bucket_eos_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

void wsgi_shim_brigade_append_broken(apr_bucket_brigade *bb, int status, apr_pool_t *p)
{
    apr_bucket *b = ap_bucket_error_create(status, NULL, p, bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
    b = apr_bucket_eos_create(bb->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, b);
}

int wsgi_shim_log_server_is_level(const server_rec *s, int module_index, int level)
{
    return APLOG_MODULE_IS_LEVEL(s, module_index, level);
}

int wsgi_shim_log_request_is_level(const request_rec *r, int module_index, int level)
{
    return APLOG_R_MODULE_IS_LEVEL(r, module_index, level);
}

int wsgi_shim_connection_aborted(const conn_rec *c)
{
    return c->aborted;
}

void wsgi_shim_connection_set_close(conn_rec *c)
{
    c->keepalive = AP_CONN_CLOSE;
}

void wsgi_shim_connection_abort(conn_rec *c)
{
    c->aborted = 1;
    c->keepalive = AP_CONN_CLOSE;
}

const apr_array_header_t *wsgi_shim_table_elts(const apr_table_t *t)
{
    return apr_table_elts(t);
}
