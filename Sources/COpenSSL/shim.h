// Thin shims over OpenSSL 3.0 for Swift: function-like macros and deprecated
// calls that Swift cannot import or cannot call without warnings.
#ifndef COSSIGNER_COPENSSL_SHIM_H
#define COSSIGNER_COPENSSL_SHIM_H

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

static inline void cos_openssl_free(void *p) { OPENSSL_free(p); }

static inline void cos_openssl_cleanse(void *p, size_t len) { OPENSSL_cleanse(p, len); }

// Deprecated in 3.0 but the only way to sign with a caller-chosen nonce
// (RFC 6979) before OpenSSL 3.2. Wrapped here so Swift sees no deprecation.
static inline EC_KEY *cos_evp_pkey_get1_ec_key(EVP_PKEY *pkey) { return EVP_PKEY_get1_EC_KEY(pkey); }
static inline void cos_ec_key_free(EC_KEY *key) { EC_KEY_free(key); }
static inline const BIGNUM *cos_ec_key_get0_private_key(const EC_KEY *key) { return EC_KEY_get0_private_key(key); }
static inline const EC_GROUP *cos_ec_key_get0_group(const EC_KEY *key) { return EC_KEY_get0_group(key); }
static inline ECDSA_SIG *cos_ecdsa_do_sign_ex(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                                              const BIGNUM *rp, EC_KEY *eckey) {
    return ECDSA_do_sign_ex(dgst, dlen, kinv, rp, eckey);
}
static inline int cos_ecdsa_do_verify(const unsigned char *dgst, int dlen, const ECDSA_SIG *sig, EC_KEY *eckey) {
    return ECDSA_do_verify(dgst, dlen, sig, eckey);
}

// ---- Crypto room helpers -------------------------------------------------

// BIO_get_mem_data is a macro.
static inline long cos_bio_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

// XN_FLAG_RFC2253 is a composite macro with casts.
static inline unsigned long cos_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }

// An HMAC EVP_MAC_CTX bound to `digest` ("SHA256", "SHA384", ...). The OSSL_PARAM array lives
// only for the duration of this call, which is all EVP_MAC_CTX_set_params needs.
static inline EVP_MAC_CTX *cos_hmac_ctx_new(EVP_MAC *mac, const char *digest) {
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) return NULL;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

// DER encoding of a name entry's value as the ASN.1 type it carries (what RFC 2253 "#hex"
// shows). Returns the length and an OPENSSL_malloc'd buffer in *out, or <= 0.
static inline int cos_name_entry_value_der(const X509_NAME_ENTRY *entry, unsigned char **out) {
    ASN1_STRING *value = X509_NAME_ENTRY_get_data(entry);
    if (value == NULL) return -1;
    ASN1_TYPE type;
    type.type = ASN1_STRING_type(value);
    type.value.asn1_string = value;
    *out = NULL;
    return i2d_ASN1_TYPE(&type, out);
}

// certificatePolicies: the policy OIDs in dotted form, written one after another into `buf`
// separated by '\n'. Returns the number of policies, 0 when the extension is absent, -1 on a
// malformed extension, -2 when `buf` is too small.
static inline int cos_x509_policy_oids(X509 *x, char *buf, int buflen) {
    int crit = 0;
    CERTIFICATEPOLICIES *policies = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
    if (policies == NULL) return crit == -1 ? 0 : -1;
    int n = sk_POLICYINFO_num(policies);
    int used = 0;
    if (buflen > 0) buf[0] = 0;
    for (int i = 0; i < n; i++) {
        POLICYINFO *info = sk_POLICYINFO_value(policies, i);
        char oid[128];
        int len = OBJ_obj2txt(oid, sizeof oid, info->policyid, 1);
        if (len <= 0 || len >= (int)sizeof oid || used + len + 2 > buflen) {
            CERTIFICATEPOLICIES_free(policies);
            return len <= 0 ? -1 : -2;
        }
        if (used > 0) buf[used++] = '\n';
        memcpy(buf + used, oid, (size_t)len);
        used += len;
        buf[used] = 0;
    }
    CERTIFICATEPOLICIES_free(policies);
    return n;
}

#endif
