// PKCS#11 (Cryptoki 2.40) declarations for Swift, from p11-kit's pkcs11.h (Debian: libp11-kit-dev).
// Headers only: nothing is linked. A module is loaded at run time with dlopen, and every call goes
// through the function list its C_GetFunctionList returns (Crypto/PKCS11/PKCS11Module.swift).
#ifndef COSSIGNER_CPKCS11_SHIM_H
#define COSSIGNER_CPKCS11_SHIM_H

#include <stddef.h>
#include <p11-kit-1/p11-kit/pkcs11.h>

/// Calls a module's C_GetFunctionList, found by dlsym (which returns it as a data pointer).
static inline CK_RV cos_p11_get_function_list(void *symbol, CK_FUNCTION_LIST_PTR *list) {
    return ((CK_C_GetFunctionList)symbol)(list);
}

/// CK_UNAVAILABLE_INFORMATION, whose cast Swift does not import.
static inline CK_ULONG cos_p11_unavailable_information(void) { return CK_UNAVAILABLE_INFORMATION; }

#endif
