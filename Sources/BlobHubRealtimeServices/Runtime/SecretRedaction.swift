import Foundation

/// Keeps credentials out of messages meant for logs and the terminal.
package enum SecretRedaction {
    /// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, wherever such a URL appears in `text`.
    package static func redactingURLPasswords(_ text: String) -> String {
        // scheme://user:password@ — the password is everything between the user's colon and the last '@' of the authority.
        guard let expression = try? NSRegularExpression(pattern: #"([A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)[^\s/]*@"#) else { return text }
        let range = NSRange(text.startIndex..., in: text)
        return expression.stringByReplacingMatches(in: text, range: range, withTemplate: "$1***@")
    }
}
