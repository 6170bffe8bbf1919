// Thin shims over libxml2 for Swift.
#ifndef COSSIGNER_CLIBXML2_SHIM_H
#define COSSIGNER_CLIBXML2_SHIM_H

#include <libxml/xmlversion.h>
// Debian builds libxml2 with ICU; its headers then clash with Foundation's
// bundled ICU on clean builds ("UErrorCode has different definitions").
#undef LIBXML_ICU_ENABLED

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlsave.h>
#include <libxml/xpath.h>

// xmlFree is a mutable global function pointer: Swift 6 refuses to touch it.
static inline void cos_xml_free(void *p) { xmlFree(p); }

// The thread-local structured error handler and its context, so that a caller can
// install its own for the duration of one call and put the previous one back.
// (`xmlStructuredError` is a macro over a per-thread global in libxml2 2.9.)
static inline void cos_xml_get_structured_error_handler(xmlStructuredErrorFunc *handler, void **context) {
    *handler = xmlStructuredError;
    *context = xmlStructuredErrorContext;
}

// C14N visibility callbacks. libxml2 passes namespace nodes (xmlNs, a different struct
// whose `type` field sits at the same offset as xmlNode's) together with the element
// they are attached to in `parent`; attributes and other nodes reach their element
// through `parent` links. `user_data` is the xmlNodePtr of the subtree root.
static inline int cos_xml_c14n_is_within(void *user_data, xmlNodePtr node, xmlNodePtr parent) {
    const xmlNode *subtree = (const xmlNode *)user_data;
    const xmlNode *cur = node;
    if (cur != NULL && cur->type == XML_NAMESPACE_DECL) cur = parent;
    for (; cur != NULL; cur = cur->parent) {
        if (cur == subtree) return 1;
    }
    return 0;
}
// Visible when outside the subtree (enveloped-signature transform).
static inline int cos_xml_c14n_visible_outside(void *user_data, xmlNodePtr node, xmlNodePtr parent) {
    return !cos_xml_c14n_is_within(user_data, node, parent);
}
// Visible when inside the subtree (canonicalising one element, e.g. ds:SignedInfo).
static inline int cos_xml_c14n_visible_inside(void *user_data, xmlNodePtr node, xmlNodePtr parent) {
    return cos_xml_c14n_is_within(user_data, node, parent);
}

// Test support: libxml2's generic (printf-style, C-variadic) error channel is what prints
// to stderr. These swap in, for the calling thread only, a handler that just counts calls,
// so a test can prove that no message went that way.
typedef struct {
    xmlGenericErrorFunc handler;
    void *context;
} cos_xml_generic_error_state;

static inline void cos_xml_count_generic_error(void *counter, const char *msg, ...) {
    (void)msg;
    if (counter != NULL) ++*(int *)counter;
}

static inline cos_xml_generic_error_state cos_xml_begin_counting_generic_errors(int *counter) {
    cos_xml_generic_error_state saved = { xmlGenericError, xmlGenericErrorContext };
    xmlSetGenericErrorFunc(counter, cos_xml_count_generic_error);
    return saved;
}

static inline void cos_xml_end_counting_generic_errors(cos_xml_generic_error_state saved) {
    xmlSetGenericErrorFunc(saved.context, saved.handler);
}

#endif
