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

#endif
