import Foundation

enum Fixtures {
    /// Its standard base64 contains "+", "/" and "=" padding: "w7w/w7w+Pw==".
    static let credential = "ü?ü>?"
    static let credentialStandardPadded = Data(credential.utf8).base64EncodedString()
    static let credentialStandardUnpadded = credentialStandardPadded.replacingOccurrences(of: "=", with: "")
    static let credentialURLSafePadded = credentialStandardPadded
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    static let credentialURLSafeUnpadded = credentialURLSafePadded.replacingOccurrences(of: "=", with: "")
    static let credentialForms = [
        credentialStandardPadded, credentialStandardUnpadded, credentialURLSafePadded, credentialURLSafeUnpadded,
    ]
}
