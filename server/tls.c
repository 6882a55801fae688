/* tls.c - the server's TLS context and TLS connections.
 *
 * One SSL_CTX per configuration, built on the main thread before privileges
 * are dropped (key files are often readable by root only).  Connections on
 * TLS listeners get an OpenSSL bufferevent; everything above the bufferevent
 * is the same as for plain connections.
 */
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/x509.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <event2/bufferevent_ssl.h>
#include "runtime.h"
#include "tls.h"

/* TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are
 * OpenSSL's defaults, which are all modern. */
static const char k_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

static int min_version(const char *name)
{
    if (!name || strcasecmp(name, "tls1.2") == 0)
        return TLS1_2_VERSION;
    if (strcasecmp(name, "tls1.3") == 0)
        return TLS1_3_VERSION;
    if (strcasecmp(name, "tls1.1") == 0)
        return TLS1_1_VERSION;
    if (strcasecmp(name, "tls1") == 0)
        return TLS1_VERSION;
    return SSL3_VERSION;
}

/* OpenSSL's reason in words, with a hint for the usual mistakes, instead of
 * "error:0480006C:PEM routines::no start line". */
static const char *ssl_reason(void)
{
    static _Thread_local char buf[256];
    unsigned long e = ERR_peek_error(); /* the first: the cause, not "PEM lib" above it */
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    const char *hint = "";
    if (e && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
        hint = " (not a PEM file, or the wrong kind of PEM block)";
    else if (e && ERR_GET_REASON(e) == PEM_R_BAD_DECRYPT)
        hint = " (an encrypted key: the server cannot ask for a passphrase; decrypt it with "
               "openssl pkey)";
    snprintf(buf, sizeof buf, "%s%s", why ? why : "unknown error", hint);
    ERR_clear_error();
    return buf;
}

/* h2 first when the Protocols directive allows it on TLS binds (the
 * default), then HTTP/1.1; without a match, go on without ALPN rather than
 * failing the handshake. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const rp_core_conf *c = arg;
    static const unsigned char both[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    bool h2 = !c->protocols || (c->protocols & RP_PROTO_H2);
    const unsigned char *mine = h2 ? both : both + 3;
    unsigned int mine_len = h2 ? sizeof both : sizeof both - 3;
    /* Server preference: h2 if the client offers it at all. */
    for (const unsigned char *p = mine; p < mine + mine_len; p += 1 + p[0]) {
        for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
            if (in[i] == p[0] && i + 1u + in[i] <= inlen && memcmp(in + i + 1, p + 1, p[0]) == 0) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

bool rp_tls_resumed(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    return ssl && SSL_session_reused(ssl);
}

bool rp_tls_alpn_h2(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    const unsigned char *p = NULL;
    unsigned int n = 0;
    if (ssl)
        SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && p[0] == 'h' && p[1] == '2';
}

static int set_protocols(SSL_CTX *ctx, const rp_core_conf *c, char *err, size_t n)
{
    int min = min_version(c->ssl_min);
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Protocols older than TLS 1.2 need OpenSSL's legacy security level;
     * only an explicit SslMinVersion asks for that. */
    const char *list = min < TLS1_2_VERSION ? "DEFAULT:@SECLEVEL=0" : k_ciphers;
    if (SSL_CTX_set_cipher_list(ctx, list) != 1) {
        snprintf(err, n, "TLS cipher list refused: %s", ssl_reason());
        return -1;
    }
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)c);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    /* An idle keep-alive connection gives its record buffers (about 34 KiB)
     * back to the allocator; OpenSSL takes them again for the next record. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* A record rp_tls_write_now could not finish is retried by the
     * bufferevent from its own buffer: same bytes, another address. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

static int unreadable(const char *what, const char *path, char *err, size_t n)
{
    if (access(path, R_OK) == 0)
        return 0;
    snprintf(err, n, "%s '%s': cannot read it: %s", what, path, strerror(errno));
    return 1;
}

/* One certificate (chain) and its key into ctx; a context holds one per
 * key type, so an RSA and an ECDSA pair can live side by side. */
/* The whole OCSP response file into pool memory; -1 with a message. */
static int read_staple(rp_server *s, rp_tls_pair *p, char *err, size_t n)
{
    FILE *f = fopen(p->staple, "rb");
    if (!f) {
        snprintf(err, n, "%s: SslStaplingFile '%s': cannot read it: %s", p->staple_at, p->staple,
                 strerror(errno));
        return -1;
    }
    unsigned char buf[65536];
    size_t len = fread(buf, 1, sizeof buf, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    const unsigned char *q = buf;
    OCSP_RESPONSE *resp = len && !more ? d2i_OCSP_RESPONSE(NULL, &q, (long)len) : NULL;
    if (!resp) {
        ERR_clear_error();
        snprintf(err, n,
                 "%s: SslStaplingFile '%s' is not a DER OCSP response (of at most 64 KiB; "
                 "openssl ocsp -respout writes one)",
                 p->staple_at, p->staple);
        return -1;
    }
    OCSP_RESPONSE_free(resp);
    p->ocsp = rp_palloc(s->pool, len);
    memcpy(p->ocsp, buf, len);
    p->ocsp_len = len;
    return 0;
}

/* A client asked for the certificate's status: staple the response of the
 * certificate this handshake uses, if it has one. */
static int staple_cb(SSL *ssl, void *arg)
{
    const rp_host *h = arg;
    const X509 *leaf = SSL_get_certificate(ssl);
    for (size_t i = 0; i < h->certs.n; i++) {
        const rp_tls_pair *p = h->certs.v[i];
        if (p->leaf != leaf || !p->ocsp)
            continue;
        unsigned char *copy = OPENSSL_malloc(p->ocsp_len); /* OpenSSL frees it */
        if (!copy)
            return SSL_TLSEXT_ERR_NOACK;
        memcpy(copy, p->ocsp, p->ocsp_len);
        SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)p->ocsp_len);
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static int load_pair(SSL_CTX *ctx, const rp_tls_pair *p, char *err, size_t n)
{
    if (!p->cert || !p->key) {
        const char *at = p->cert ? p->cert_at : p->key_at;
        snprintf(err, n,
                 "%s: %s has no %s to go with it (each certificate needs both SslCertFile "
                 "and SslKeyFile)",
                 at ? at : "(configuration)", p->cert ? "SslCertFile" : "SslKeyFile",
                 p->cert ? "SslKeyFile" : "SslCertFile");
        return -1;
    }
    if (unreadable("SslCertFile", p->cert, err, n) || unreadable("SslKeyFile", p->key, err, n))
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
        snprintf(err, n, "%s: SslCertFile '%s': cannot load the certificate chain: %s",
                 p->cert_at ? p->cert_at : "(configuration)", p->cert, ssl_reason());
        return -1;
    }
    /* OpenSSL checks the key against the certificate while loading it. */
    int loaded = SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) == 1;
    if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        snprintf(err, n, "%s: SslKeyFile '%s': cannot load the private key: %s",
                 p->key_at ? p->key_at : "(configuration)", p->key, ssl_reason());
        return -1;
    }
    if (!loaded || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, n, "%s: SslKeyFile '%s' does not match the certificate in SslCertFile '%s'",
                 p->key_at ? p->key_at : "(configuration)", p->key, p->cert);
        return -1;
    }
    return 0;
}

/* TLS is wanted but no host has a certificate: name the line that asked. */
static int no_certificate(const rp_core_conf *c, char *err, size_t n)
{
    const char *at = c->tls_at ? c->tls_at : c->cert_at ? c->cert_at : c->key_at;
    snprintf(err, n,
             "%s: TLS is asked for here but %s is not set (TLS needs both SslCertFile and "
             "SslKeyFile)",
             at ? at : "(configuration)", !c->ssl_cert ? "SslCertFile" : "SslKeyFile");
    return -1;
}

static void free_ctx(void *ctx)
{
    SSL_CTX_free(ctx);
}

static pthread_once_t sni_once = PTHREAD_ONCE_INIT;
static int sni_index = -1;

static void sni_index_init(void)
{
    sni_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* The client hello named a server: answer with that host's certificates
 * (its own context), remember the host for the 421 check, and for an
 * unknown name use the default host's unless SslStrictSni refuses. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
    rp_server *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    bool known;
    const rp_host *h = rp_host_lookup(s, name, strlen(name), &known);
    if (!known && s->vh->strict_sni) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_ex_data(ssl, sni_index, (void *)h);
    if (h->tls && h->tls != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, h->tls);
    return SSL_TLSEXT_ERR_OK;
}

const rp_host *rp_tls_sni_host(const rp_req *r)
{
    SSL *ssl = r->conn->bev ? bufferevent_openssl_get_ssl(r->conn->bev) : NULL;
    return ssl && sni_index >= 0 ? SSL_get_ex_data(ssl, sni_index) : NULL;
}

/* A context per host with certificates.  Each has its own session id
 * context, so a session made for one host does not resume on another. */
static SSL_CTX *host_ctx(rp_server *s, rp_host *h, char *err, size_t n)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, n, "cannot create a TLS context: %s", ssl_reason());
        return NULL;
    }
    rp_pool_cleanup_add(s->pool, free_ctx, ctx); /* lives as long as the configuration */
    if (set_protocols(ctx, s->core, err, n) != 0)
        return NULL;
    char sid[32];
    int len = snprintf(sid, sizeof sid, "rampart/%d", h->index);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid, (unsigned)len);
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_select);
    SSL_CTX_set_tlsext_servername_arg(ctx, s);
    bool stapling = false;
    for (size_t i = 0; i < h->certs.n; i++) {
        rp_tls_pair *p = h->certs.v[i];
        if (load_pair(ctx, p, err, n) != 0 || (p->staple && read_staple(s, p, err, n) != 0))
            return NULL;
        p->leaf = SSL_CTX_get0_certificate(ctx); /* the one just loaded */
        stapling = stapling || p->staple;
    }
    if (stapling) {
        SSL_CTX_set_tlsext_status_cb(ctx, staple_cb);
        SSL_CTX_set_tlsext_status_arg(ctx, h);
    }
    return ctx;
}

int rp_tls_init(rp_server *s, char *err, size_t n)
{
    pthread_once(&sni_once, sni_index_init);
    rp_vhosts *vh = rp_vhosts_of(s);
    void *first = NULL;
    for (size_t i = 0; i < vh->top->certs.n; i++) { /* the top level's own wording */
        const rp_tls_pair *p = vh->top->certs.v[i];
        if (!p->cert || !p->key)
            return no_certificate(s->core, err, n);
    }
    for (size_t i = 0; i < vh->hosts.n; i++) {
        rp_host *h = vh->hosts.v[i];
        if (!h->certs.n)
            continue;
        if (!(h->tls = host_ctx(s, h, err, n)))
            return -1;
        first = first ? first : h->tls;
    }
    /* The context a handshake starts in: the default host's certificate
     * answers clients that send no name or an unknown one. */
    void *base = vh->dflt->tls ? vh->dflt->tls : vh->top->tls ? vh->top->tls : first;
    if (!base)
        return no_certificate(s->core, err, n);
    s->tls = base;
    return 0;
}

/* Any listener speaking TLS needs the context; build it while reading the
 * configuration so `-t` reports key problems too. */
int rp_tls_prepare(rp_server *s, const char **err)
{
    bool needed = s->core->secure;
    for (char **b = s->core->binds; b && *b; b++) {
        bool tls = s->core->secure || strncmp(*b, "tls:", 4) == 0;
        const char *colon = strrchr(*b, ':');
        if (tls && !s->https_port && colon)
            s->https_port = atoi(colon + 1);
        needed = needed || tls;
    }
    if (s->core->https_redirect && !needed) {
        *err = rp_psprintf(s->pool, "HttpsRedirect needs a TLS Bind (for example: "
                                    "Bind 0.0.0.0:443 tls) to send clients to");
        return -1;
    }
    if (!needed || s->tls)
        return 0;
    char msg[600];
    if (rp_tls_init(s, msg, sizeof msg) != 0) {
        *err = rp_pstrdup(s->pool, msg);
        return -1;
    }
    return 0;
}

/* The host part of a Host header, if it is made of host-name characters
 * only (anything else could steer the redirect somewhere odd). */
static const char *redirect_host(rp_req *r)
{
    const char *h = rp_req_header(r, "Host");
    if (!h || !*h || strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
                           strlen(h))
        return rp_req_local_ip(r);
    const char *end = h[0] == '[' ? strchr(h, ']') : strchr(h, ':');
    if (h[0] == '[')
        return end ? rp_pstrndup(rp_req_pool(r), h, (size_t)(end - h + 1)) : rp_req_local_ip(r);
    return end ? rp_pstrndup(rp_req_pool(r), h, (size_t)(end - h)) : h;
}

int rp_https_redirect_hook(rp_req *r)
{
    rp_server *s = rp_req_server(r);
    if (rp_req_is_tls(r))
        return RP_DECLINED;
    const char *uri = rp_req_uri(r);
    char port[16] = "";
    if (s->https_port != 443)
        snprintf(port, sizeof port, ":%d", s->https_port);
    const char *host = redirect_host(r);
    bool v6 = strchr(host, ':') && host[0] != '[';
    rp_resp_header_set(r, "Location", rp_psprintf(rp_req_pool(r), "https://%s%s%s%s%s", v6 ? "[" : "",
                                                   host, v6 ? "]" : "", port, uri[0] == '/' ? uri : "/"));
    return (int)s->core->https_redirect;
}

struct bufferevent *rp_tls_bufferevent(rp_server *s, struct event_base *base, int fd)
{
    SSL *ssl = SSL_new(s->tls);
    if (!ssl)
        return NULL;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev) /* many clients close without close_notify; that is not an error */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* A clean close: send close_notify.  Besides being polite, it keeps the
 * session in the cache; OpenSSL forgets sessions of connections freed
 * without a shutdown, and session-ID resumption would never happen. */
void rp_tls_close_notify(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl && SSL_is_init_finished(ssl)) {
        SSL_shutdown(ssl); /* non-blocking: one attempt, whatever the peer does */
        ERR_clear_error();
    }
}

/* Write a small response straight through the connection's SSL when the
 * bufferevent has nothing queued: as for plain sockets, this skips arming
 * the write event (two epoll_ctl calls) and a loop turn per response.
 * Returns the bytes written, or <= 0 when OpenSSL could not finish now; the
 * caller then hands the same bytes to the bufferevent, whose SSL_write
 * completes the record OpenSSL may hold (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
 * allows the new address). */
int rp_tls_write_now(struct bufferevent *bev, const void *data, size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl || !SSL_is_init_finished(ssl) || len == 0 || len > INT_MAX)
        return 0;
    ERR_clear_error();
    int w = SSL_write(ssl, data, (int)len);
    if (w <= 0)
        ERR_clear_error(); /* the bufferevent's own attempt reports real errors */
    return w;
}
