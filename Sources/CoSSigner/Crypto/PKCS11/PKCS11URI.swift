/// A PKCS#11 URI (RFC 7512) naming a private key on a token, e.g.
/// `pkcs11:token=cos;object=ts1-xml-sign;type=private` or `pkcs11:token=cos;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so`.
///
/// Path attributes (`;`-separated, each at most once): `token`, `manufacturer`, `serial`, `model` (the token),
/// `object` (the key's `CKA_LABEL`), `id` (its `CKA_ID`, bytes), `type` (only `private`), `slot-id`,
/// `slot-description`, `slot-manufacturer`, `library-manufacturer`, `library-description`, `library-version`.
/// Query attributes (`&`-separated): `module-path` only. Values are percent-decoded (`%2F`, `%01`); text values
/// must be UTF-8. Everything else is refused with the reason, never ignored: unknown and vendor (`x-`)
/// attributes, `module-name`, a fragment, and above all `pin-value` and `pin-source`: a PIN comes from
/// `--pin-env`/`--pin-file` (a registry's `pin_env`/`pin_file`) only, so it is never on a command line or in a
/// file that names keys.
package struct PKCS11URI: Sendable, Equatable, CustomStringConvertible {
    /// The URI as given (it holds no PIN: such URIs are refused).
    package let text: String
    /// `token`: the token label (`CK_TOKEN_INFO.label`, compared without its blank padding).
    package let token: String?
    /// `manufacturer`: `CK_TOKEN_INFO.manufacturerID`.
    package let manufacturer: String?
    /// `serial`: `CK_TOKEN_INFO.serialNumber`.
    package let serial: String?
    /// `model`: `CK_TOKEN_INFO.model`.
    package let model: String?
    /// `object`: the key object's `CKA_LABEL`.
    package let object: String?
    /// `id`: the key object's `CKA_ID` (raw bytes, usually percent-encoded: `id=%01%02`).
    package let id: [UInt8]?
    /// `slot-id`: the slot's number.
    package let slotID: UInt?
    /// `slot-description`: `CK_SLOT_INFO.slotDescription`.
    package let slotDescription: String?
    /// `slot-manufacturer`: `CK_SLOT_INFO.manufacturerID`.
    package let slotManufacturer: String?
    /// `library-manufacturer`: `CK_INFO.manufacturerID`.
    package let libraryManufacturer: String?
    /// `library-description`: `CK_INFO.libraryDescription`.
    package let libraryDescription: String?
    /// `library-version`: `CK_INFO.libraryVersion`, `M` or `M.N`.
    package let libraryVersion: (major: UInt8, minor: UInt8?)?
    /// The `module-path` query attribute: the module to load (the same as `--pkcs11-module`).
    package let modulePath: String?

    /// True when `text` starts with the `pkcs11:` scheme (case-insensitive, as URI schemes are): such a key
    /// reference is a token key, anything else a file.
    package static func isPKCS11URI(_ text: String) -> Bool {
        let scheme = text.utf8.prefix(7)
        return scheme.count == 7 && String(decoding: scheme, as: UTF8.self).lowercased() == "pkcs11:"
    }

    /// The URI as safe to print when it could not be read: without its query part (where `pin-value` would be).
    package static func redacted(_ text: String) -> String {
        guard let question = text.firstIndex(of: "?") else { return text }
        return String(text[..<question]) + "?…"
    }

    /// Reads a URI.
    /// - Throws: ``PKCS11Error`` with code ``PKCS11Error/Code/invalidURI`` naming the attribute and the reason.
    package init(parsing text: String) throws(PKCS11Error) {
        let shown = Self.redacted(text)
        func fail(_ reason: String) -> PKCS11Error { PKCS11Error(code: .invalidURI, reason: reason, uri: shown) }
        guard Self.isPKCS11URI(text) else { throw fail("a PKCS#11 URI starts with 'pkcs11:'") }
        guard text.utf8.count <= 4096 else { throw fail("longer than 4096 bytes") }
        let rest = text.dropFirst(7)
        if rest.contains("#") { throw fail("a fragment ('#') is not part of a PKCS#11 URI") }
        let path: Substring
        let query: Substring?
        if let question = rest.firstIndex(of: "?") {
            path = rest[..<question]
            query = rest[rest.index(after: question)...]
        } else {
            path = rest
            query = nil
        }

        // The query first: a PIN in it is refused before anything else is said about the URI.
        var modulePath: String? = nil
        if let query {
            var seen: Set<String> = []
            for component in query.split(separator: "&", omittingEmptySubsequences: false) {
                let (name, value) = try Self.attribute(component, separator: "&", fail: fail)
                switch name {
                case "pin-value", "pin-source":
                    throw fail(
                        "'\(name)' is not accepted: PINs come from --pin-env/--pin-file/pin_env/pin_file only, "
                            + "never from the key's URI")
                case "module-path":
                    break
                case "module-name":
                    throw fail("'module-name' is not supported: give the module's path (--pkcs11-module PATH or module-path=)")
                default:
                    throw fail("unknown query attribute '\(name)' (accepted: module-path)")
                }
                guard seen.insert(name).inserted else { throw fail("'\(name)' is given more than once") }
                let bytes = try Self.percentDecoded(value, name: name, fail: fail)
                guard let decoded = String(validating: bytes, as: UTF8.self), !decoded.isEmpty,
                    !decoded.utf8.contains(0)
                else {
                    throw fail("'module-path' must be a non-empty UTF-8 path")
                }
                modulePath = decoded
            }
        }

        var values: [String: [UInt8]] = [:]
        if !path.isEmpty {
            for component in path.split(separator: ";", omittingEmptySubsequences: false) {
                let (name, value) = try Self.attribute(component, separator: ";", fail: fail)
                guard Self.pathAttributes.contains(name) else {
                    if name == "pin-value" || name == "pin-source" {
                        throw fail(
                            "'\(name)' is not accepted: PINs come from --pin-env/--pin-file/pin_env/pin_file only, "
                                + "never from the key's URI")
                    }
                    throw fail(
                        "unknown attribute '\(name)' (accepted: \(Self.pathAttributes.sorted().joined(separator: ", ")))")
                }
                guard values[name] == nil else { throw fail("'\(name)' is given more than once") }
                values[name] = try Self.percentDecoded(value, name: name, fail: fail)
            }
        }
        func textValue(_ name: String) throws(PKCS11Error) -> String? {
            guard let bytes = values[name] else { return nil }
            guard let string = String(validating: bytes, as: UTF8.self), !string.utf8.contains(0) else {
                throw fail("'\(name)' is not UTF-8 text")
            }
            return string
        }
        if let type = try textValue("type"), type != "private" {
            throw fail("type=\(type): a signing key is a private key object (type=private, or leave type out)")
        }
        var slotID: UInt? = nil
        if let slot = try textValue("slot-id") {
            guard !slot.isEmpty, slot.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = UInt(slot) else {
                throw fail("slot-id=\(slot) is not a decimal slot number")
            }
            slotID = number
        }
        var libraryVersion: (UInt8, UInt8?)? = nil
        if let version = try textValue("library-version") {
            let parts = version.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let major = UInt8(parts[0]),
                parts.count == 1 || UInt8(parts[1]) != nil
            else {
                throw fail("library-version=\(version) is not M or M.N")
            }
            libraryVersion = (major, parts.count == 2 ? UInt8(parts[1]) : nil)
        }
        self.text = text
        self.token = try textValue("token")
        self.manufacturer = try textValue("manufacturer")
        self.serial = try textValue("serial")
        self.model = try textValue("model")
        self.object = try textValue("object")
        self.id = values["id"]
        self.slotID = slotID
        self.slotDescription = try textValue("slot-description")
        self.slotManufacturer = try textValue("slot-manufacturer")
        self.libraryManufacturer = try textValue("library-manufacturer")
        self.libraryDescription = try textValue("library-description")
        self.libraryVersion = libraryVersion
        self.modulePath = modulePath
    }

    package var description: String { text }

    package static func == (lhs: PKCS11URI, rhs: PKCS11URI) -> Bool { lhs.text == rhs.text }

    private static let pathAttributes: Set<String> = [
        "token", "manufacturer", "serial", "model", "object", "id", "type", "slot-id", "slot-description",
        "slot-manufacturer", "library-manufacturer", "library-description", "library-version",
    ]

    /// `name=value` (the name as written: RFC 7512's names are lower case).
    private static func attribute(
        _ component: Substring, separator: Character, fail: (String) -> PKCS11Error
    ) throws(PKCS11Error) -> (String, Substring) {
        guard !component.isEmpty else { throw fail("an empty attribute (two '\(separator)' in a row, or one at the end)") }
        guard let equals = component.firstIndex(of: "=") else {
            throw fail("'\(component)' is not name=value")
        }
        let name = String(component[..<equals])
        guard !name.isEmpty else { throw fail("an attribute without a name ('=\(component[component.index(after: equals)...])')") }
        return (name, component[component.index(after: equals)...])
    }

    /// Percent-decoding; characters that must be encoded (controls, space, `"<>\^`{|}`, non-ASCII) are refused.
    private static func percentDecoded(
        _ value: Substring, name: String, fail: (String) -> PKCS11Error
    ) throws(PKCS11Error) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var iterator = value.utf8.makeIterator()
        func hex(_ c: UInt8?) -> UInt8? {
            guard let c else { return nil }
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while let c = iterator.next() {
            if c == UInt8(ascii: "%") {
                guard let high = hex(iterator.next()), let low = hex(iterator.next()) else {
                    throw fail("'\(name)': '%' must be followed by two hex digits")
                }
                out.append(high << 4 | low)
                continue
            }
            let forbidden: Set<UInt8> = [0x20, 0x22, 0x3C, 0x3E, 0x5C, 0x5E, 0x60, 0x7B, 0x7C, 0x7D]
            guard c > 0x20, c < 0x7F, !forbidden.contains(c) else {
                throw fail("'\(name)': characters other than printable ASCII must be percent-encoded")
            }
            out.append(c)
        }
        return out
    }
}
