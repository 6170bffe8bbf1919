import CoSSigner
import Foundation

/// A JSON object key, any name.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Decodes a JSON object body, mapping the decoder's errors to a 400 naming the key.
func decodeJSONBody<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws(Problem) -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(body))
    } catch let problem as Problem {
        throw problem
    } catch let DecodingError.keyNotFound(key, _) {
        throw Problem.malformed("'\(key.stringValue)' is missing", field: key.stringValue)
    } catch let DecodingError.typeMismatch(_, context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw Problem.malformed("'\(field)' has the wrong type: \(context.debugDescription)", field: field)
    } catch let DecodingError.valueNotFound(_, context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw Problem.malformed("'\(field)' is null", field: field)
    } catch let DecodingError.dataCorrupted(context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw Problem.malformed("the body is not a JSON object of the documented shape: \(context.debugDescription)",
                                field: field.isEmpty ? nil : field)
    } catch {
        throw Problem.malformed("the body is not JSON: \(error)")
    }
}

/// `POST /sign`: `{"message": base64, "preserveCounter": bool}`.
///
/// As DCC's tool reads it (`Server.handleSign`: Gson, `request.get("message").getAsString()`,
/// `request.has("preserveCounter") && request.get("preserveCounter").getAsBoolean()`): `preserveCounter` absent is
/// false; a boolean, or the strings "true"/"false" (any case), are read as such. Stricter than Gson: any other value
/// (a number, another string, null) is refused with 400 rather than read as false. Other keys are ignored.
struct DCCSignRequest: Decodable {
    let message: String
    let preserveCounter: Bool

    init(json: [UInt8]) throws(Problem) { self = try decodeJSONBody(Self.self, json) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        message = try container.decode(String.self, forKey: AnyKey(stringValue: "message"))
        let key = AnyKey(stringValue: "preserveCounter")
        guard container.contains(key) else {
            preserveCounter = false
            return
        }
        if let value = try? container.decode(Bool.self, forKey: key) {
            preserveCounter = value
        } else if let text = try? container.decode(String.self, forKey: key), ["true", "false"].contains(text.lowercased()) {
            preserveCounter = text.lowercased() == "true"
        } else {
            throw Problem.malformed("preserveCounter must be true or false", field: "preserveCounter")
        }
    }
}

/// `POST /verify`: `{"message": base64}`. Other keys are ignored.
struct DCCVerifyRequest: Decodable {
    let message: String

    init(json: [UInt8]) throws(Problem) { self = try decodeJSONBody(Self.self, json) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        message = try container.decode(String.self, forKey: AnyKey(stringValue: "message"))
    }
}

/// `POST /v1/requests/6.23`: the fields of `cos-signer build`, by the same names (``ServiceRequest623Fields``).
///
/// Certificates are strings: PEM, or base64 of the DER. `counter`, `floor` and `topupFloor` are strings of decimal
/// digits (64-bit values do not survive every JSON parser as numbers), or non-negative integers. `counter` may be
/// left out: the server's counter policy then sets it; a counter given is kept. Unknown keys are refused.
struct BuildRequest: Decodable {
    let fields: ServiceRequest623Fields
    let counterGiven: Bool

    init(json: [UInt8]) throws(Problem) { self = try decodeJSONBody(Self.self, json) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(ServiceRequest623Fields.Field.allCases.map(\.rawValue))
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw Problem.malformed("unknown key '\(key.stringValue)' (the keys are \(ServiceRequest623Fields.Field.allCases.map(\.rawValue).joined(separator: ", ")))",
                                    field: key.stringValue)
        }
        func key(_ field: ServiceRequest623Fields.Field) -> AnyKey { AnyKey(stringValue: field.rawValue) }
        func string(_ field: ServiceRequest623Fields.Field) throws -> String {
            try container.decode(String.self, forKey: key(field))
        }
        func optionalString(_ field: ServiceRequest623Fields.Field) throws -> String? {
            try container.decodeIfPresent(String.self, forKey: key(field))
        }
        /// Digits as a string, or a non-negative integer.
        func digits(_ field: ServiceRequest623Fields.Field) throws -> String? {
            guard container.contains(key(field)), !(try container.decodeNil(forKey: key(field))) else { return nil }
            if let text = try? container.decode(String.self, forKey: key(field)) { return text }
            if let value = try? container.decode(UInt64.self, forKey: key(field)) { return String(value) }
            throw Problem.malformed("\(field.rawValue) must be a string of decimal digits or a non-negative integer", field: field.rawValue)
        }
        func certificate(_ field: ServiceRequest623Fields.Field) throws -> [UInt8]? {
            try optionalString(field).map { Array($0.utf8) }
        }
        guard let floor = try digits(.floor) else {
            throw Problem.malformed("'floor' is missing", field: "floor")
        }
        guard let signingCert = try certificate(.signingCert) else {
            throw Problem.malformed("'signingCert' is missing", field: "signingCert")
        }
        let counter = try digits(.counter)
        counterGiven = counter != nil
        fields = ServiceRequest623Fields(
            originator: try string(.originator), target: try string(.target),
            // A placeholder when left out: the counter policy replaces it before signing.
            counter: counter ?? "1",
            commandVariant: try container.decodeIfPresent(Int.self, forKey: key(.commandVariant)) ?? 1,
            floor: floor, topupFloor: try digits(.topupFloor),
            signingCert: signingCert, keyAgreementCert: try certificate(.keyAgreementCert), topupCert: try certificate(.topupCert),
            pathCert: try container.decode([String].self, forKey: key(.pathCert)).map { Array($0.utf8) },
            applyCpvChecks: try container.decodeIfPresent(Bool.self, forKey: key(.applyCpvChecks)) ?? true,
            mpxn: try string(.mpxn), executeAt: try optionalString(.executeAt))
    }
}

/// DCC's tool answers a DUIS `Response` that carries no signature at all with the message as it is
/// (`Validate.validate_document`: no `ds:Signature` and the root is `Response` → returned unchecked).
enum UnsignedResponse {
    /// Whether `xml` is well-formed, its root a DUIS `sr:Response` and it holds no `ds:Signature` element anywhere.
    static func isUnsignedResponse(_ xml: [UInt8]) -> Bool {
        guard let document = try? XMLDocument(parsing: xml, source: "message") else { return false }
        let root = document.root
        guard root.localName == "Response", root.namespaceURI == "http://www.dccinterface.co.uk/ServiceUserGateway" else { return false }
        func hasSignature(_ element: XMLElement) -> Bool {
            if element.localName == "Signature" && element.namespaceURI == "http://www.w3.org/2000/09/xmldsig#" { return true }
            return element.elementChildren.contains(where: hasSignature)
        }
        return !hasSignature(root)
    }
}
