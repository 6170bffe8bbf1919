// Thin shims over OpenSSL 3.0 for Swift: function-like macros and deprecated
// calls that Swift cannot import or cannot call without warnings.
#ifndef COSSIGNER_COPENSSL_SHIM_H
#define COSSIGNER_COPENSSL_SHIM_H

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
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
#include <openssl/sha.h>
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

// ---- Fast paths for signing and verifying ------------------------------------

// SHA-256 through the low-level API: no EVP fetch, no context allocation, the same block
// function the default provider uses. Up to three parts are hashed as one message.
static inline void cos_sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                                    size_t clen, unsigned char *out) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    if (alen > 0) SHA256_Update(&ctx, a, alen);
    if (blen > 0) SHA256_Update(&ctx, b, blen);
    if (clen > 0) SHA256_Update(&ctx, c, clen);
    SHA256_Final(out, &ctx);
}

// HMAC-SHA256(key, a || b || c || d) into out (32 bytes). The key (at most 64 bytes) is read
// before out is written, so out may alias it. The pads and hash states, which derive from the
// key, are cleansed. Returns 0 for a key longer than 64 bytes.
static inline int cos_hmac_sha256(const void *key, size_t keylen, const void *a, size_t alen, const void *b,
                                  size_t blen, const void *c, size_t clen, const void *d, size_t dlen,
                                  unsigned char *out) {
    if (keylen > 64) return 0;
    unsigned char pad[64];
    unsigned char inner[32];
    SHA256_CTX ctx;
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < keylen; i++) pad[i] ^= ((const unsigned char *)key)[i];
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, sizeof pad);
    if (alen > 0) SHA256_Update(&ctx, a, alen);
    if (blen > 0) SHA256_Update(&ctx, b, blen);
    if (clen > 0) SHA256_Update(&ctx, c, clen);
    if (dlen > 0) SHA256_Update(&ctx, d, dlen);
    SHA256_Final(inner, &ctx);
    for (size_t i = 0; i < sizeof pad; i++) pad[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, sizeof pad);
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    return 1;
}

// r and s of an ECDSA_SIG as r||s (32 + 32 bytes, big-endian). Returns 1, or 0 if either does
// not fit.
static inline int cos_ecdsa_sig_raw(const ECDSA_SIG *sig, unsigned char *out64) {
    const BIGNUM *r = ECDSA_SIG_get0_r(sig);
    const BIGNUM *s = ECDSA_SIG_get0_s(sig);
    if (r == NULL || s == NULL) return 0;
    return BN_bn2binpad(r, out64, 32) == 32 && BN_bn2binpad(s, out64 + 32, 32) == 32;
}

// ECDSA with a random nonce on the legacy EC_KEY view: the code EVP_PKEY_sign runs for an EC
// key (ECDSA_do_sign_ex without k^-1 and r), without the provider dispatch and the DER round
// trip. Writes r||s; returns 1 on success.
static inline int cos_ecdsa_sign_raw(const unsigned char *dgst, int dlen, EC_KEY *eckey, unsigned char *out64) {
    ECDSA_SIG *sig = ECDSA_do_sign(dgst, dlen, eckey);
    if (sig == NULL) return 0;
    int ok = cos_ecdsa_sig_raw(sig, out64);
    ECDSA_SIG_free(sig);
    return ok;
}

// ECDSA verification of r||s (32 + 32 bytes) over a digest on the legacy EC_KEY view: what
// EVP_PKEY_verify runs after decoding the DER signature. 1 valid, 0 invalid, -1 error.
static inline int cos_ecdsa_verify_raw(const unsigned char *dgst, int dlen, const unsigned char *r32,
                                       const unsigned char *s32, EC_KEY *eckey) {
    ECDSA_SIG *sig = ECDSA_SIG_new();
    if (sig == NULL) return -1;
    BIGNUM *r = BN_bin2bn(r32, 32, NULL);
    BIGNUM *s = BN_bin2bn(s32, 32, NULL);
    // ECDSA_SIG_set0 takes ownership of both on success only.
    if (r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return -1;
    }
    int rc = ECDSA_do_verify(dgst, dlen, sig, eckey);
    ECDSA_SIG_free(sig);
    return rc;
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

// An unencrypted PEM PKCS#8 key ("PRIVATE KEY") holding an EC key, decoded by a decoder chain narrowed to that
// one form: OpenSSL 3.0 builds a general decoder context (every input type, structure and key type) for each
// PEM_read_bio_PrivateKey, which costs about as much as the rest of a one-document run's key handling. NULL when
// the input is anything else; the caller then takes the general path.
static inline EVP_PKEY *cos_decode_pem_pkcs8_ec_private_key(const unsigned char *data, size_t len) {
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", "PrivateKeyInfo", "EC", EVP_PKEY_KEYPAIR,
                                                           NULL, NULL);
    if (dctx == NULL) return NULL;
    const unsigned char *cursor = data;
    size_t left = len;
    int ok = OSSL_DECODER_from_data(dctx, &cursor, &left);
    OSSL_DECODER_CTX_free(dctx);
    if (!ok || pkey == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

// ---- SMKI / GBCS certificate profile fields ---------------------------------

// Whether the extension `nid` is present (1 critical, 0 non-critical) or absent (-1). More than one
// occurrence (which RFC 5280 forbids and OpenSSL flags as invalid) reports -2.
static inline int cos_x509_extension_criticality(const X509 *x, int nid) {
    int index = X509_get_ext_by_NID(x, nid, -1);
    if (index < 0) return -1;
    if (X509_get_ext_by_NID(x, nid, index) >= 0) return -2;
    X509_EXTENSION *ext = X509_get_ext(x, index);
    if (ext == NULL) return -1;
    return X509_EXTENSION_get_critical(ext) ? 1 : 0;
}

// The subject key identifier's octets (length, or -1 when absent); *out points into the certificate.
static inline int cos_x509_subject_key_id(X509 *x, const unsigned char **out) {
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    if (ski == NULL) return -1;
    *out = ASN1_STRING_get0_data(ski);
    return ASN1_STRING_length(ski);
}

// The authority key identifier's keyIdentifier [0] octets (length, -1 when the extension or [0] is
// absent). *other is set to 1 when the extension also carries authorityCertIssuer or serial.
static inline int cos_x509_authority_key_id(X509 *x, const unsigned char **out, int *other) {
    *other = (X509_get0_authority_issuer(x) != NULL || X509_get0_authority_serial(x) != NULL) ? 1 : 0;
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    if (aki == NULL) return -1;
    *out = ASN1_STRING_get0_data(aki);
    return ASN1_STRING_length(aki);
}

// The subjectPublicKey BIT STRING's octets (the EC point as encoded: 0x04 || X || Y when
// uncompressed); length or -1.
static inline int cos_x509_public_key_bits(X509 *x, const unsigned char **out) {
    ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
    if (bits == NULL) return -1;
    *out = ASN1_STRING_get0_data(bits);
    return ASN1_STRING_length(bits);
}

// 1 when the serial number is a negative INTEGER (RFC 5280 forbids it, but it parses).
static inline int cos_x509_serial_is_negative(const X509 *x) {
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    return serial != NULL && ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;
}

#endif
