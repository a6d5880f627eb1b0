import Testing
@testable import SlipwayCore

/// An audit event's payload is part of the chain's history: a stored chain is
/// verified against the exact text, so the text never changes.
@Suite struct AuditPayloadTests {
    @Test func aPayloadIsTheFieldsCanonicalJSON() {
        #expect(AuditChain.payload([:]) == "{}")
        #expect(AuditChain.payload(["stage": "train", "status": "cached", "cache_key": "ab12", "reason": ""])
                == #"{"cache_key":"ab12","reason":"","stage":"train","status":"cached"}"#)
        #expect(AuditChain.payload(["message": "line one\nsaid \"no\" \\ tab\there \u{1}"])
                == #"{"message":"line one\nsaid \"no\" \\ tab\there \u0001"}"#)
    }

    /// Byte for byte (Swift's `==` on strings would call `é` and `e\u{301}` equal):
    /// keys in code-point order, text other than quotes, backslashes and
    /// control characters passed through as it is, never normalised.
    @Test func aPayloadKeepsItsTextsBytes() {
        let payload = AuditChain.payload(["a": "é \u{2028} 🚀", "_": "e\u{301}", "Z": "\u{7f}"])
        #expect(Array(payload.utf8) == Array("{\"Z\":\"\u{7f}\",\"_\":\"e\u{301}\",\"a\":\"é \u{2028} 🚀\"}".utf8))
        #expect(Array(AuditChain.payload(["k": "é"]).utf8) == [0x7B, 0x22, 0x6B, 0x22, 0x3A, 0x22, 0xC3, 0xA9, 0x22, 0x7D])
        #expect(Array(AuditChain.payload(["k": "e\u{301}"]).utf8) == [0x7B, 0x22, 0x6B, 0x22, 0x3A, 0x22, 0x65, 0xCC, 0x81, 0x22, 0x7D])
    }

    @Test func aPayloadIsWhatTheCanonicalFormOfAMapWouldBe() {
        let texts = ["", "plain", "é and 日本", "quote \" here", "back\\slash", "\r\n\t", "\u{7}\u{1f}", "emoji 🚀", "Z", "a", "_", "10", "9"]
        var fields: [String: String] = [:]
        for (i, key) in texts.enumerated() {
            fields[key] = texts[(i * 7 + 3) % texts.count]
            let canonical = SpecValue.map(fields.map { .init(key: $0.key, value: .string($0.value)) }).canonical
            #expect(AuditChain.payload(fields) == canonical)
        }
    }

    /// The form for fields already in order (a stage's end) writes the same
    /// text as the dictionary form, and leaves out the fields that are nil.
    @Test func aPayloadFromOrderedFieldsIsTheSameText() {
        #expect(AuditChain.payload(ascending: [:]) == "{}")
        #expect(AuditChain.payload(ascending: ["a": nil, "b": nil]) == "{}")
        let ordered = AuditChain.payload(ascending: [
            "cache_key": "ab12", "exit_code": nil, "message": "said \"no\"\n", "reason": "", "stage": "train", "status": "cached",
        ])
        #expect(ordered == AuditChain.payload(["stage": "train", "status": "cached", "cache_key": "ab12", "reason": "", "message": "said \"no\"\n"]))
        #expect(AuditChain.payload(ascending: ["cache_key": nil, "exit_code": "-9", "message": nil, "reason": "killed", "stage": "s", "status": "failed"])
                == #"{"exit_code":"-9","reason":"killed","stage":"s","status":"failed"}"#)
    }
}
