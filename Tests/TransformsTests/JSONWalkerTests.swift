import XCTest
@testable import Transforms

final class JSONWalkerTests: XCTestCase {
    private func paths(_ text: String, body: String = "body") -> [String]? {
        JSONWalker(targets: [], bodyPath: body).bodyPaths(text)?.map { "\($0.0):\($0.1)" }
    }

    private func found(_ text: String, _ targets: [String]) -> [String?]? {
        let w = JSONWalker(targets: targets, bodyPath: nil)
        var bytes = Array(text.utf8)
        let ok = bytes.withUnsafeMutableBufferPointer { w.walk(UnsafePointer($0.baseAddress!), $0.count) }
        guard ok else { return nil }
        return w.found.map { $0.map { "\($0.kind):\($0.string)" } }
    }

    func testBodyPathsWithArraysAndContainers() {
        XCTAssertEqual(paths(#"{"body":{"items":[{"sku":"a"},{"sku":1}],"filters":{"brand":"n"},"e":[],"z":null,"b":true}}"#), [
            "items:array", "items[]:object", "items[].sku:string", "items[]:object", "items[].sku:number",
            "filters:object", "filters.brand:string", "e:array", "z:null", "b:bool",
        ])
        XCTAssertEqual(paths(#"{"body":{"m":[[1],[]]}}"#), ["m:array", "m[]:array", "m[][]:number", "m[]:array"])
        XCTAssertEqual(paths(#"{"body":{}}"#), [])
        XCTAssertEqual(paths(#"{"x":{"a":1}}"#), [])
    }

    func testWholeRecordAndNestedBody() {
        XCTAssertEqual(paths(#"{"a":1,"b":{"c":"x"}}"#, body: ""), ["a:number", "b:object", "b.c:string"])
        XCTAssertEqual(paths(#"{"properties":{"p":{"q":[true]}},"x":1}"#, body: "properties"), ["p:object", "p.q:array", "p.q[]:bool"])
        XCTAssertEqual(paths(#"{"ctx":{"body":{"k":1}}}"#, body: "ctx.body"), ["k:number"])
    }

    func testTargetsByPath() {
        XCTAssertEqual(found(#"{"eventType":"pageView","timestamp":1714557600123,"ctx":{"page":{"path":"/p"}},"n":null}"#,
                             ["eventType", "timestamp", "ctx.page.path", "missing", "n", "ctx"]),
                       ["string:pageView", "number:1714557600123", "string:/p", nil, "null:", "object:"])
        // Paths never go through arrays; a duplicated key: the last wins.
        XCTAssertEqual(found(#"{"a":[{"b":1}],"k":1,"k":2}"#, ["a.b", "k"]), [nil, "number:2"])
    }

    func testEscapesAndUnicode() {
        XCTAssertEqual(found(#"{"s":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00","k\u0065y":"v"}"#, ["s", "key"]),
                       ["string:a\"b\\c/d\n\té😀", "string:v"])
        XCTAssertEqual(found(#"{"s":"café ✓"}"#, ["s"]), ["string:café ✓"])
        XCTAssertEqual(paths(#"{"body":{"a\u002eb":1,"\u00fc":2}}"#), ["a.b:number", "ü:number"])
    }

    func testNumbers() {
        XCTAssertEqual(found(#"{"a":-0.5e+10,"b":0,"c":12.25E-3}"#, ["a", "b", "c"]), ["number:-0.5e+10", "number:0", "number:12.25E-3"])
        for bad in [#"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":1e}"#, #"{"a":-}"#, #"{"a":+1}"#, #"{"a":0x10}"#, #"{"a":NaN}"#] {
            XCTAssertNil(found(bad, ["a"]), bad)
        }
    }

    func testMalformedInput() {
        for bad in [
            "", "not json", "[1,2]", "\"s\"", "{", "}", #"{"a":1,}"#, #"{"a":1"#, #"{"a" 1}"#, #"{a:1}"#, #"{"a":tru}"#,
            #"{"a":truex}"#, #"{"a":nul}"#, #"{"a":"x\q"}"#, #"{"a":"\ud83d"}"#, #"{"a":"\ude00"}"#, #"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}", #"{"a":1} x"#, #"{"a":1}{"b":2}"#, #"{"a":[1,]}"#, #"{"a":[1 2]}"#, #"{"a":"unterminated}"#,
        ] {
            XCTAssertNil(found(bad, ["a"]), bad)
        }
        XCTAssertNotNil(found("  {\"a\" : [ 1 , { } , [ ] ] }  ", ["a"]))
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        XCTAssertNil(found("{\"a\":\(deep)}", ["a"]), "nesting beyond maxDepth")
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertNotNil(found("{\"a\":\(ok)}", ["a"]))
    }

    func testReuseAcrossLines() {
        let w = JSONWalker(targets: ["e"], bodyPath: "body")
        XCTAssertEqual(w.bodyPaths(#"{"e":"a\u0041","body":{"x":{"y":1}}}"#)?.map(\.0), ["x", "x.y"])
        XCTAssertEqual(w.found[0]?.string, "aA")
        XCTAssertEqual(w.bodyPaths(#"{"body":{"z":1}}"#)?.map(\.0), ["z"])
        XCTAssertNil(w.found[0])
        XCTAssertEqual(w.bodyKind, .object)
        XCTAssertEqual(w.bodyPaths(#"{"body":[1]}"#)?.map(\.0), [])
        XCTAssertEqual(w.bodyKind, .array)
    }

    /// A batch keeps every line's results until the next batch: found values (unescaped ones
    /// too), body kinds, paths and shapes; shapes are equal exactly for equal paths and kinds.
    func testBatchKeepsEveryLine() {
        let w = JSONWalker(targets: ["e"], bodyPath: "body")
        let lines = [#"{"e":"a\u0041","body":{"x":[1,{"y":null}]}}"#, "not json", #"{"e":"b","body":{"z":"s"}}"#,
                     #"{"e":"c","body":{"z":"t"}}"#, #"{"e":"d","body":{"z":1}}"#, #"{"e":"f","body":[]}"#]
        let text = Array(lines.joined().utf8)
        let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: text.count)
        defer { buf.deallocate() }
        buf.initialize(from: text, count: text.count)
        w.beginBatch(bytes: text.count)
        var at = 0
        for l in lines {
            w.walkKept(buf + at, l.utf8.count)
            at += l.utf8.count
        }
        XCTAssertEqual(w.kept.map(\.ok), [true, false, true, true, true, true])
        XCTAssertEqual(w.keptFound[w.kept[0].found]?.string, "aA")
        XCTAssertEqual(w.keptFound[w.kept[2].found]?.string, "b")
        XCTAssertEqual(w.kept[0].paths.map { "\(w.pathString($0)):\(w.paths[$0].kind)" }, ["x:array", "x[]:number", "x[]:object", "x[].y:null"])
        XCTAssertEqual(w.kept[2].paths.map { w.pathString($0) }, ["z"])
        XCTAssertEqual(w.kept[5].bodyKind, .array)
        XCTAssertEqual(Array(w.shape(w.kept[2])), Array(w.shape(w.kept[3])))
        XCTAssertNotEqual(Array(w.shape(w.kept[3])), Array(w.shape(w.kept[4])))
        XCTAssertNotEqual(Array(w.shape(w.kept[0])), Array(w.shape(w.kept[2])))
    }

    func testTimeParsing() {
        func t(_ text: String, _ unit: TimestampUnit = .auto) -> Int64? {
            let w = JSONWalker(targets: ["ts"], bodyPath: nil)
            var bytes = Array(text.utf8)
            let ok = bytes.withUnsafeMutableBufferPointer { w.walk(UnsafePointer($0.baseAddress!), $0.count) }
            guard ok, let v = w.found[0] else { return nil }
            return CatalogIngestor.parseTime(v, unit: unit)
        }
        XCTAssertEqual(t(#"{"ts":"2024-05-01T10:00:00Z"}"#), 1714557600)
        XCTAssertEqual(t(#"{"ts":"2024-05-01T10:00:00.999+02:00"}"#), 1714550400)
        XCTAssertEqual(t(#"{"ts":1714557600}"#), 1714557600)
        XCTAssertEqual(t(#"{"ts":1714557600999}"#), 1714557600)
        XCTAssertEqual(t(#"{"ts":"1714557600999"}"#), 1714557600)
        XCTAssertEqual(t(#"{"ts":1714557600.7}"#), 1714557600)
        XCTAssertEqual(t(#"{"ts":1714557600}"#, .ms), 1714557)
        XCTAssertEqual(t(#"{"ts":1714557600999}"#, .s), nil)  // beyond year 9999 in seconds
        XCTAssertNil(t(#"{"ts":-1}"#))
        XCTAssertNil(t(#"{"ts":1e9}"#))
        XCTAssertNil(t(#"{"ts":"yesterday"}"#))
        // The range is 1970-01-01T00:00:00Z ... 9999-12-31T23:59:59Z in UTC, whatever the zone
        // offset: a local time in 1970 or 9999 can lie outside it.
        XCTAssertEqual(t(#"{"ts":"1970-01-01T00:00:00Z"}"#), 0)
        XCTAssertEqual(t(#"{"ts":"1970-01-01T01:00:00+01:00"}"#), 0)
        XCTAssertNil(t(#"{"ts":"1970-01-01T00:30:00+01:00"}"#))
        XCTAssertNil(t(#"{"ts":"1970-01-01T00:59:59+0100"}"#))
        XCTAssertEqual(t(#"{"ts":"9999-12-31T23:59:59Z"}"#), 253_402_300_799)
        XCTAssertEqual(t(#"{"ts":"9999-12-31T22:59:59-01:00"}"#), 253_402_300_799)
        XCTAssertNil(t(#"{"ts":"9999-12-31T23:30:00-01:00"}"#))
        XCTAssertEqual(t(#"{"ts":253402300799}"#, .s), 253_402_300_799)
        XCTAssertNil(t(#"{"ts":253402300800}"#, .s))
        XCTAssertNil(t(#"{"ts":true}"#))
    }
}
