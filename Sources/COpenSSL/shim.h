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

#endif
