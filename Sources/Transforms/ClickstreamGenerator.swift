#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Deterministic synthetic app clickstream (`sellocli gen --clickstream`), for the Blueprint-style
// event catalog and `verify`: JSON Lines with the canonical fields
// `tenant, app, platform, app_version, event, screen, session_id, user_id, ts` and a nested `body`.
//
// Shape (fixed; only the random draws depend on the seed):
// - Tenants, apps, platforms and versions, with release shares decided per user (a staged
//   rollout: a user stays on one version of one app): `ClickstreamShape.versions`.
// - Sessions walk an e-commerce screen graph (home, search, listing, pdp, cart, checkout, payment,
//   orderConfirmation): a click that navigates is followed by the screenLoad of its target a
//   second or so later; other events come a few seconds to minutes apart. About 30% of sessions
//   come from a returning user. Session starts follow a daily curve of Indian traffic (IST: quiet
//   02:00-07:00, busiest 20:00-23:00).
// - Bodies vary by event, with optional keys (`experiment` in ~95% of events, `network` on apps,
//   `items[].size`, `filters.size`, `coupon`...), nullable keys (`experiment`, `referrer`,
//   `payment.bank`) and one key of two non-null types: `position` on click is a number in ~84% of
//   clicks and a string (`"7"`) in ~16%.
// - `ts` by platform: web an ISO 8601 string with milliseconds, android Unix milliseconds, ios
//   Unix seconds (integers).
// - `session_id` is missing (the key is absent; `user_id` is present) on ~30% of the first events
//   of web sessions (a page view before the session cookie is set) and on ~1% of other events.
// - The broken candidate: `myntra`/`shop`/`android` version `3.3` (baseline `3.2`, the same
//   app and platform): it never sends `addToWishlist` (which only the `pdp` screen sends), it
//   does not send the `pdp` screenLoad when the product page is opened from `listing` or `search`
//   (fewer screenLoads per session), and its `items[]` objects lack `qty` (`items[].qty` dropped
//   from addToCart, removeFromCart, checkoutStart and purchase). `myntra/shop/ios 3.3` is a
//   healthy candidate against `3.2` (the same behaviour).
//
// Same options, same bytes: all randomness comes from seeded generators, nothing reads the clock.
// Streaming: rows come out ordered by time; sessions wait in a min-heap keyed by the time of
// their next event, so memory is bounded by the sessions active at one time, not by the rows.

/// What to generate.
public struct ClickstreamOptions: Sendable, Equatable {
    /// Exactly this many JSON lines are written.
    public var rows: Int
    /// Start of the time window, Unix seconds (UTC).
    public var start: Int64
    /// Length of the time window in hours; events fall in [start, start + hours * 3600).
    public var hours: Int
    /// Seed; the output is a function of (rows, start, hours, seed).
    public var seed: UInt64

    public init(rows: Int = 10_000, start: Int64 = 1_569_888_000, hours: Int = 24, seed: UInt64 = 1) {
        self.rows = rows
        self.start = start
        self.hours = hours
        self.seed = seed
    }
}

/// What was written.
public struct ClickstreamReport: Sendable, Equatable {
    public var rows = 0
    /// Distinct tenants, (tenant, app) pairs and (tenant, app, platform, app_version) that wrote rows.
    public var tenants = 0
    public var apps = 0
    public var versions = 0
    /// Sessions that wrote at least one row, and how many of them belong to a returning user.
    public var sessions = 0
    public var returningSessions = 0
    /// Rows without a `session_id` key.
    public var rowsWithoutSessionId = 0
    /// Rows of the broken candidate version (`ClickstreamShape.broken`).
    public var brokenVersionRows = 0
    /// `position` values written as numbers and as strings.
    public var positionNumbers = 0
    public var positionStrings = 0
    /// The most sessions in progress at one time (what memory is proportional to).
    public var peakActiveSessions = 0
    /// Time of the first and last row, Unix milliseconds; nil when no rows.
    public var firstTimeMs: Int64?
    public var lastTimeMs: Int64?
    /// Rows per event, in `ClickstreamShape.events` order.
    public var eventCounts: [Int] = Array(repeating: 0, count: ClickstreamShape.events.count)

    public init() {}

    /// Rows by event name.
    public var countsByEvent: [String: Int] {
        var d: [String: Int] = [:]
        for (i, name) in ClickstreamShape.events.enumerated() { d[name] = eventCounts[i] }
        return d
    }
}

/// The fixed shape of the clickstream: names the tests, docs and `verify` examples refer to.
public enum ClickstreamShape {
    public static let tenants = ["myntra", "jabong"]
    /// (tenant, app, platform, app_version, share of that app's users).
    public static let versions: [(tenant: String, app: String, platform: String, version: String, share: Double)] =
        csGroups.flatMap { g in
            g.versions.map { (g.tenant.description, g.app.description, csPlatformNames[Int(g.platform)].description,
                              $0.0.description, $0.1) }
        }
    public static let screens: [String] = csScreenNames.map(\.description)
    public static let events: [String] = csEventNames.map(\.description)

    /// The broken candidate and its baseline.
    public static let brokenTenant = "myntra"
    public static let brokenApp = "shop"
    public static let brokenPlatform = "android"
    public static let brokenVersion = "3.3"
    public static let baselineVersion = "3.2"
    /// The event the broken version never sends (the baseline sends it on `missingEventScreen`).
    public static let missingEvent = "addToWishlist"
    public static let missingEventScreen = "pdp"
    /// The body key the broken version drops (from every event that carries `items`).
    public static let droppedKey = "items[].qty"
    /// The screen whose screenLoad the broken version skips when opened from listing or search.
    public static let skippedScreenLoad = "pdp"
    /// The healthy candidate: same app, other platform, same behaviour as its baseline 3.2.
    public static let healthyPlatform = "ios"
    /// The key of two non-null JSON types (number ~84%, string ~16%), on `click`.
    public static let mixedTypeKey = "position"
    public static let mixedTypeStringShare = 0.16
}

/// Writes `options.rows` JSON lines to `out`. Does not call `out.finish()`. Throws
/// `TransformsError.invalidArgument` for bad options and `TransformsError.io` when writing fails.
public func generateClickstream(_ options: ClickstreamOptions, to out: OutputFile) throws -> ClickstreamReport {
    guard options.rows >= 0 else { throw TransformsError.invalidArgument("rows must be 0 or more, got \(options.rows)") }
    guard options.hours >= 1 && options.hours <= GeneratorOptions.maxHours else {
        throw TransformsError.invalidArgument("hours must be between 1 and \(GeneratorOptions.maxHours), got \(options.hours)")
    }
    let maxTime: Int64 = 253_402_300_799 // 9999-12-31 23:59:59
    guard options.start >= 0, options.start + Int64(options.hours) * 3600 - 1 <= maxTime else {
        throw TransformsError.invalidArgument("the time window must lie between 1970 and 9999")
    }
    var engine = CSEngine(options: options, out: out)
    defer { engine.release() }
    try engine.run()
    return engine.report
}

// MARK: - Random numbers

@inline(__always) private func csSplitMix(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

@inline(__always) private func csHash(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var x = a ^ (b &* 0x9E37_79B9_7F4A_7C15)
    return csSplitMix(&x)
}

@inline(__always) private func csUnit(_ x: inout UInt64) -> Double {
    Double(csSplitMix(&x) >> 11) * (1.0 / 9_007_199_254_740_992.0)
}

@inline(__always) private func csBelow(_ x: inout UInt64, _ n: Int) -> Int {
    Int(truncatingIfNeeded: UInt64(n).multipliedFullWidth(by: csSplitMix(&x)).high)
}

/// xoshiro256** for the engine's own draws (users, bodies).
private struct CSRNG {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var x = seed
        s0 = csSplitMix(&x); s1 = csSplitMix(&x); s2 = csSplitMix(&x); s3 = csSplitMix(&x)
    }

    @inline(__always) mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    @inline(__always) mutating func unit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    @inline(__always) mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(n).multipliedFullWidth(by: next()).high)
    }

    @inline(__always) mutating func chance(_ p: Double) -> Bool { unit() < p }
}

// MARK: - The fixed shape

private let csAndroid: UInt8 = 0
private let csIOS: UInt8 = 1
private let csWeb: UInt8 = 2
private let csPlatformNames: [StaticString] = ["android", "ios", "web"]

private struct CSGroupSpec {
    let tenant: StaticString
    let tenantIndex: Int
    let app: StaticString
    let platform: UInt8
    /// Share of new users.
    let weight: Double
    let versions: [(StaticString, Double)]
    /// Index in `versions` of the broken candidate, or -1.
    let broken: Int
}

/// (tenant, app, platform) with their versions and release shares. Web deploys continuously:
/// one version at a time.
private let csGroups: [CSGroupSpec] = [
    CSGroupSpec(tenant: "myntra", tenantIndex: 0, app: "shop", platform: csAndroid, weight: 0.42,
                versions: [("3.2", 0.8), ("3.3", 0.2)], broken: 1),
    CSGroupSpec(tenant: "myntra", tenantIndex: 0, app: "shop", platform: csIOS, weight: 0.16,
                versions: [("3.2", 0.7), ("3.3", 0.3)], broken: -1),
    CSGroupSpec(tenant: "myntra", tenantIndex: 0, app: "shop", platform: csWeb, weight: 0.14,
                versions: [("5.41", 1.0)], broken: -1),
    CSGroupSpec(tenant: "myntra", tenantIndex: 0, app: "lite", platform: csAndroid, weight: 0.06,
                versions: [("1.4", 1.0)], broken: -1),
    CSGroupSpec(tenant: "jabong", tenantIndex: 1, app: "shop", platform: csAndroid, weight: 0.12,
                versions: [("2.8", 0.15), ("2.9", 0.85)], broken: -1),
    CSGroupSpec(tenant: "jabong", tenantIndex: 1, app: "shop", platform: csIOS, weight: 0.04,
                versions: [("2.9", 1.0)], broken: -1),
    CSGroupSpec(tenant: "jabong", tenantIndex: 1, app: "shop", platform: csWeb, weight: 0.06,
                versions: [("4.7", 1.0)], broken: -1),
]

private let csHome: UInt8 = 0
private let csSearch: UInt8 = 1
private let csListing: UInt8 = 2
private let csPdp: UInt8 = 3
private let csCart: UInt8 = 4
private let csCheckout: UInt8 = 5
private let csPayment: UInt8 = 6
private let csOrderConfirmation: UInt8 = 7
private let csNone: UInt8 = 255
private let csScreenNames: [StaticString] = [
    "home", "search", "listing", "pdp", "cart", "checkout", "payment", "orderConfirmation",
]

private let csScreenLoad: UInt8 = 0
private let csClick: UInt8 = 1
private let csScroll: UInt8 = 2
private let csSearchEvent: UInt8 = 3
private let csFilter: UInt8 = 4
private let csAddToCart: UInt8 = 5
private let csRemoveFromCart: UInt8 = 6
private let csAddToWishlist: UInt8 = 7
private let csCheckoutStart: UInt8 = 8
private let csPurchase: UInt8 = 9
private let csError: UInt8 = 10
private let csEventNames: [StaticString] = [
    "screenLoad", "click", "scroll", "search", "filter", "addToCart", "removeFromCart", "addToWishlist",
    "checkoutStart", "purchase", "error",
]

private let csBrands: [StaticString] = [
    "Roadster", "HRX by Hrithik Roshan", "Puma", "Nike", "Libas", "Anouk", "H&M", "Mango", "Levi's",
    "U.S. Polo Assn.", "WROGN", "HERE&NOW", "DressBerry", "Biba", "Adidas", "W", "Mast & Harbour",
    "Highlander", "Sangria", "Red Tape", "Fossil", "Campus", "Jack & Jones", "Tokyo Talkies",
]
private let csSizes: [StaticString] = ["XS", "S", "M", "L", "XL", "XXL"]
private let csCategories: [StaticString] = [
    "men-tshirts", "women-kurtas-kurtis-suits", "men-casual-shoes", "women-dresses", "men-jeans",
    "women-handbags", "kids-clothing", "watches", "sarees", "sports-shoes", "women-tops", "men-shirts",
]
private let csQueries: [StaticString] = [
    "red kurta", "running shoes", "jeans men", "saree", "white sneakers", "party dress", "tshirt",
    "kurta set with dupatta", "nike shoes", "watch for men", "handbag", "track pants", "lehenga",
    "sports bra", "sunglasses", "puma", "oversized tshirt", "formal shirt", "jacket women", "flip flops",
    "smart watch", "ethnic wear kids", "cotton kurti", "hoodie", "shorts men", "backpack",
]
private let csSorts: [StaticString] = ["popularity", "new", "price_asc", "price_desc", "discount"]
private let csElements: [StaticString] = ["banner", "tile", "chip", "button", "link", "icon"]
private let csNetworks: [StaticString] = ["wifi", "4g", "4g", "3g"]
private let csExperiments: [StaticString] = ["pdp-v2", "ranking-b", "checkout-1click", "control"]
private let csPaymentModes: [StaticString] = ["upi", "card", "cod", "netbanking", "wallet"]
private let csBanks: [StaticString] = ["HDFC", "ICICI", "SBI", "AXIS", "KOTAK"]
private let csCoupons: [StaticString] = ["MYNTRA300", "FLAT20", "NEWUSER", "EORS50"]
private let csErrorCodes: [StaticString] = ["E401", "E408", "E500", "E502", "E503"]
private let csErrorMessages: [StaticString] = [
    "unauthorised", "request timeout", "internal error", "bad gateway", "service unavailable",
]

/// Relative traffic at each hour of the day (UTC), interpolated linearly: Indian shoppers
/// (IST = UTC+5:30), quiet 02:00-07:00 IST, busiest 20:00-23:00 IST.
private let csDailyCurve: [Double] = [
    0.30, 0.42, 0.55, 0.70, 0.85, 0.95, 1.00, 1.05, 1.10, 1.15, 1.25, 1.40,
    1.60, 1.75, 1.85, 1.80, 1.60, 1.25, 0.85, 0.50, 0.28, 0.18, 0.16, 0.20,
]

private let csProductsPerTenant = 20_000

/// A product of a tenant's catalog (the same for every seed).
private struct CSProduct {
    var sku: Int32
    var mrp: Int32        // rupees
    var discount: UInt8   // percent
    var brand: UInt8
    var category: UInt8
    var hasSize: Bool
}

// MARK: - Sessions

private struct CSSession {
    var time: Int64 = 0            // ms of the pending event
    var walk: UInt64 = 0           // the session's own generator: walk, gaps, products
    var remaining: Int32 = 0       // events still to write (all inside the window)
    var steps: Int32 = 0           // steps of the walk so far, silent ones included
    var written: Int32 = 0
    var group: UInt8 = 0
    var version: UInt8 = 0         // flat version index
    var broken = false
    var returning = false
    var screen: UInt8 = 0
    var prevScreen: UInt8 = 255
    var pendingNav: UInt8 = 255
    var pendingPurchase = false
    var event: UInt8 = 0           // the pending event
    var eventScreen: UInt8 = 0
    var referrer: UInt8 = 255      // for screenLoad: the screen before
    var user: UInt64 = 0
    var sidA: UInt64 = 0
    var sidB: UInt64 = 0
    var product: Int32 = 0         // product on the pdp
    var cartCount: UInt8 = 0
    var cart: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)
    var cartQty: (UInt8, UInt8, UInt8, UInt8) = (1, 1, 1, 1)
    var lastItem: Int32 = 0        // the product of the pending item event
    var lastQty: UInt8 = 1
    var purchased: UInt8 = 0       // items of the pending purchase (the cart is empty after it)

    func cartItem(_ i: Int) -> Int32 {
        switch i { case 0: return cart.0; case 1: return cart.1; case 2: return cart.2; default: return cart.3 }
    }

    func cartItemQty(_ i: Int) -> UInt8 {
        switch i { case 0: return cartQty.0; case 1: return cartQty.1; case 2: return cartQty.2; default: return cartQty.3 }
    }

    mutating func setCart(_ i: Int, _ p: Int32, _ q: UInt8) {
        switch i {
        case 0: cart.0 = p; cartQty.0 = q
        case 1: cart.1 = p; cartQty.1 = q
        case 2: cart.2 = p; cartQty.2 = q
        default: cart.3 = p; cartQty.3 = q
        }
    }
}

/// A popular-first product index: a few products get most of the traffic.
@inline(__always) private func csPickProduct(_ x: inout UInt64) -> Int32 {
    let u = csUnit(&x)
    return Int32(Double(csProductsPerTenant) * u * u * u)
}

/// Milliseconds before the pending event.
@inline(__always) private func csGap(_ s: inout CSSession, navigation: Bool) -> Int64 {
    let u = 1.0 - csUnit(&s.walk)
    if navigation { return 250 + Int64(-log(u) * 700) }
    if s.event == csPurchase { return 150 + Int64(-log(u) * 400) }
    if csBelow(&s.walk, 100) < 3 { return 40_000 + Int64(-log(u) * 90_000) }   // a long pause
    let mean: Double
    if s.event == csScroll {
        mean = 2_500
    } else {
        switch s.eventScreen {
        case csPdp: mean = 18_000
        case csListing: mean = 9_000
        case csPayment: mean = 16_000
        case csCheckout: mean = 14_000
        case csCart: mean = 10_000
        default: mean = 7_000
        }
    }
    return 400 + Int64(-log(u) * mean)
}

/// Moves the session to its next event: sets `event`, `eventScreen` and `time`. The first call
/// (`first`) lands the user on an entry screen at the session's start time. Uses only the
/// session's own generator, so the same session gives the same events when replayed.
///
/// Each user action is one step of the walk (`steps`); a session's length is a number of steps.
/// The broken version loses some events without changing what the user does: those steps are
/// silent (time passes, nothing is sent), so its other per-session ratios match its baseline.
private func csAdvance(_ s: inout CSSession, first: Bool) {
    s.steps += 1
    if first {
        let r = csBelow(&s.walk, 100)
        let entry: UInt8 = r < 60 ? csHome : r < 80 ? csListing : r < 92 ? csPdp : csSearch
        if entry == csPdp { s.product = csPickProduct(&s.walk) }
        s.prevScreen = csNone
        s.referrer = csNone
        s.screen = entry
        s.event = csScreenLoad
        s.eventScreen = entry
        return
    }
    while true {
        if s.pendingNav != csNone {
            let to = s.pendingNav
            s.pendingNav = csNone
            s.prevScreen = s.screen
            s.screen = to
            // The broken version loses the pdp screenLoad when the pdp is opened from a list.
            if s.broken && to == csPdp && (s.prevScreen == csListing || s.prevScreen == csSearch) {
                s.time += csGap(&s, navigation: true)
                s.steps += 1
                continue
            }
            s.event = csScreenLoad
            s.eventScreen = to
            s.referrer = s.prevScreen
            s.time += csGap(&s, navigation: true)
            return
        }
        if s.pendingPurchase {
            s.pendingPurchase = false
            s.event = csPurchase
            s.eventScreen = s.screen
            s.time += csGap(&s, navigation: false)
            s.purchased = s.cartCount
            s.cartCount = 0
            return
        }
        // (weight, event, navigation target) per screen.
        let hasCart = s.cartCount > 0
        let broken = s.broken
        let screen = s.screen
        let u = csUnit(&s.walk)
        let (e, to): (UInt8, UInt8) = withUnsafeTemporaryAllocation(of: CSOption.self, capacity: 8) { o in
            var n = 0
            func add(_ weight: Double, _ e: UInt8, _ to: UInt8 = csNone) {
                o[n] = CSOption(weight: weight, event: e, target: to); n += 1
            }
            switch screen {
            case csHome:
                add(3, csScroll); add(4, csClick, csListing); add(2, csClick, csSearch); add(1, csClick, csPdp)
                add(hasCart ? 1 : 0.2, csClick, csCart); add(0.12, csError)
            case csSearch:
                add(4, csSearchEvent); add(3, csClick, csListing); add(1.2, csClick, csPdp); add(0.4, csClick, csHome)
                add(0.05, csError)
            case csListing:
                add(4, csScroll); add(1.5, csFilter); add(4.5, csClick, csPdp); add(0.6, csClick, csSearch)
                add(0.4, csClick, csHome)
            case csPdp:
                add(2, csScroll); add(2, csClick); add(0.8, csAddToWishlist); add(1.7, csAddToCart)
                add(hasCart ? 1.4 : 0.3, csClick, csCart); add(1.8, csClick, csListing); add(0.6, csClick, csPdp)
                add(0.05, csError)
            case csCart:
                add(0.5, csClick); add(hasCart ? 0.7 : 0, csRemoveFromCart)
                add(hasCart ? 2.2 : 0, csCheckoutStart, csCheckout)
                add(0.5, csClick, csPdp); add(0.6, csClick, csHome)
            case csCheckout:
                add(1.5, csClick); add(2.5, csClick, csPayment); add(0.25, csError); add(0.4, csClick, csCart)
            case csPayment:
                add(1, csClick); add(2.2, csClick, csOrderConfirmation); add(0.4, csError); add(0.3, csClick, csCheckout)
            default: // orderConfirmation
                add(0.5, csScroll); add(1.5, csClick, csHome); add(0.5, csClick, csListing)
            }
            var total = 0.0
            for i in 0..<n { total += o[i].weight }
            var r = u * total
            var k = n - 1
            for i in 0..<n {
                if r < o[i].weight { k = i; break }
                r -= o[i].weight
            }
            return (o[k].event, o[k].target)
        }
        s.event = e
        s.eventScreen = s.screen
        s.time += csGap(&s, navigation: false)
        if broken && e == csAddToWishlist {
            // The user taps the heart; the broken version sends nothing.
            s.steps += 1
            continue
        }
        switch e {
        case csAddToCart:
            let q: UInt8 = csBelow(&s.walk, 10) == 0 ? 2 : 1
            s.lastItem = s.product
            s.lastQty = q
            if s.cartCount < 4 {
                s.setCart(Int(s.cartCount), s.product, q)
                s.cartCount += 1
            } else {
                s.setCart(3, s.product, q)
            }
        case csRemoveFromCart:
            s.cartCount -= 1
            s.lastItem = s.cartItem(Int(s.cartCount))
            s.lastQty = s.cartItemQty(Int(s.cartCount))
        case csAddToWishlist:
            s.lastItem = s.product
        default:
            break
        }
        if to != csNone {
            if to == csPdp {
                if s.screen == csCart && hasCart {
                    s.product = s.cartItem(csBelow(&s.walk, Int(s.cartCount)))
                } else {
                    s.product = csPickProduct(&s.walk)
                }
            }
            if to == csOrderConfirmation { s.pendingPurchase = true }
            s.pendingNav = to
        }
        return
    }
}

// MARK: - Engine

private struct CSOption {
    var weight: Double
    var event: UInt8
    var target: UInt8
}

private struct CSHeapEntry {
    var time: Int64
    var slot: Int32
}

private struct CSEngine {
    let options: ClickstreamOptions
    let out: OutputFile
    var report = ClickstreamReport()
    var rng: CSRNG

    let windowStart: Int64      // ms
    let windowEnd: Int64        // ms, exclusive

    // Catalog (seed-independent).
    var products: [CSProduct]
    // Flat versions: group of each, cumulative share within its group, line prefix bytes.
    var versionGroup: [Int] = []
    var versionCumShare: [Double] = []
    var versionBroken: [Bool] = []
    var prefix: UnsafeMutablePointer<UInt8>
    var prefixOffset: [Int] = [0]
    var groupCumWeight: [Double] = []
    var groupFirstVersion: [Int] = []

    // Sessions.
    var slots: [CSSession] = []
    var freeSlots: [Int32] = []
    var heap: [CSHeapEntry] = []
    var versionsSeen: UInt64 = 0

    // Returning users: (user, group).
    var recentUsers: [UInt64]
    var recentGroups: [UInt8]
    var recentCount = 0
    var recentNext = 0

    // Session starts follow the daily curve: a walk over the window's minutes.
    let totalMinutes: Int
    var curveTotal = 0.0
    var walkMinute = 0
    var walkBefore = 0.0
    var walkWeight = 0.0

    // Output.
    let bufCapacity = 1 << 20
    var buf: UnsafeMutablePointer<UInt8>
    var pos = 0
    var isoDay: Int64 = Int64.min
    var isoDate: (UInt64, UInt64) = (0, 0)   // "YYYY-MM-DDT" in 11 bytes

    init(options: ClickstreamOptions, out: OutputFile) {
        self.options = options
        self.out = out
        var seed = csHash(options.seed, 0xC11C_5723_A000_0004)
        seed = csHash(seed, UInt64(bitPattern: options.start))
        seed = csHash(seed, UInt64(options.hours))
        seed = csHash(seed, UInt64(options.rows))
        rng = CSRNG(seed: seed)
        windowStart = options.start * 1000
        windowEnd = (options.start + Int64(options.hours) * 3600) * 1000
        totalMinutes = options.hours * 60
        recentUsers = [UInt64](repeating: 0, count: 4096)
        recentGroups = [UInt8](repeating: 0, count: 4096)
        buf = .allocate(capacity: bufCapacity)

        // Products: two tenants' catalogs, fixed.
        var catalogState: UInt64 = 0x5E11_0C11_C4CA_7A10
        products = []
        products.reserveCapacity(csProductsPerTenant * csGroups.count)
        for _ in 0..<2 {
            for _ in 0..<csProductsPerTenant {
                let sku = Int32(10_000_000 + csBelow(&catalogState, 89_999_999))
                let mrp = Int32((3 + csBelow(&catalogState, 50)) * 100 - 1)
                let d = UInt8([0, 10, 20, 30, 40, 50, 60][csBelow(&catalogState, 7)])
                let ub = csUnit(&catalogState)
                let brand = UInt8(Int(Double(csBrands.count) * ub * ub))
                let category = UInt8(csBelow(&catalogState, csCategories.count))
                let hasSize = csBelow(&catalogState, 100) < 88
                products.append(CSProduct(sku: sku, mrp: mrp, discount: d, brand: brand, category: category,
                                          hasSize: hasSize))
            }
        }

        // Line prefixes per version.
        var bytes: [UInt8] = []
        var acc = 0.0
        for (gi, g) in csGroups.enumerated() {
            acc += g.weight
            groupCumWeight.append(acc)
            groupFirstVersion.append(versionGroup.count)
            var share = 0.0
            for (vi, v) in g.versions.enumerated() {
                share += v.1
                versionGroup.append(gi)
                versionCumShare.append(share)
                versionBroken.append(vi == g.broken)
                let text = "{\"tenant\":\"\(g.tenant)\",\"app\":\"\(g.app)\",\"platform\":\"\(csPlatformNames[Int(g.platform)])\",\"app_version\":\"\(v.0)\",\"event\":\""
                bytes.append(contentsOf: text.utf8)
                prefixOffset.append(bytes.count)
            }
        }
        groupFirstVersion.append(versionGroup.count)
        prefix = .allocate(capacity: bytes.count)
        prefix.initialize(from: bytes, count: bytes.count)
    }

    func release() {
        buf.deallocate()
        prefix.deallocate()
    }

    // MARK: daily curve

    func curveAt(minute m: Int) -> Double {
        let t = options.start + Int64(m) * 60 + 30
        var sod = t % 86400
        if sod < 0 { sod += 86400 }
        let hf = Double(sod) / 3600
        let h = Int(hf)
        let f = hf - Double(h)
        return csDailyCurve[h] * (1 - f) + csDailyCurve[(h + 1) % 24] * f
    }

    mutating func prepareCurve() {
        var total = 0.0
        for m in 0..<totalMinutes { total += curveAt(minute: m) }
        curveTotal = total
        walkMinute = 0
        walkBefore = 0
        walkWeight = curveAt(minute: 0) / curveTotal * Double(options.rows)
    }

    /// The time (ms) by which `v` of the window's `rows` events should have started their
    /// sessions (non-decreasing `v`); the last millisecond of the window past the end.
    mutating func timeAt(virtual v: Double) -> Int64 {
        while walkBefore + walkWeight <= v {
            if walkMinute + 1 >= totalMinutes { return windowEnd - 1 }
            walkBefore += walkWeight
            walkMinute += 1
            walkWeight = curveAt(minute: walkMinute) / curveTotal * Double(options.rows)
        }
        let frac = walkWeight > 0 ? min(max((v - walkBefore) / walkWeight, 0), 0.999_999) : 0
        return windowStart + Int64(walkMinute) * 60_000 + Int64(frac * 60_000)
    }

    // MARK: heap

    @inline(__always) static func less(_ a: CSHeapEntry, _ b: CSHeapEntry) -> Bool {
        a.time < b.time || (a.time == b.time && a.slot < b.slot)
    }

    mutating func heapPush(_ e: CSHeapEntry) {
        heap.append(e)
        heap.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if !CSEngine.less(e, h[parent]) { break }
                h[i] = h[parent]
                i = parent
            }
            h[i] = e
        }
    }

    mutating func heapPop() -> CSHeapEntry {
        let top = heap[0]
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap.withUnsafeMutableBufferPointer { h in
            let n = h.count
            var i = 0
            while true {
                var c = 2 * i + 1
                if c >= n { break }
                if c + 1 < n && CSEngine.less(h[c + 1], h[c]) { c += 1 }
                if !CSEngine.less(h[c], last) { break }
                h[i] = h[c]
                i = c
            }
            h[i] = last
        }
        return top
    }

    // MARK: sessions

    /// Events of a session: 20% bounce after one event, the others 2 + about 9 on average.
    mutating func drawLength() -> Int {
        if rng.chance(0.2) { return 1 }
        return min(80, 2 + Int(-log(1.0 - rng.unit()) * 9))
    }

    /// Starts a session at `time` (ms, inside the window). Returns how many of its events fall
    /// inside the window (at least one).
    mutating func startSession(at time: Int64) -> Int {
        var s = CSSession()
        // The user: returning (30%) or new; a user keeps one app on one platform, and one version.
        if recentCount > 0 && rng.chance(0.3) {
            let i = rng.below(recentCount)
            s.user = recentUsers[i]
            s.group = recentGroups[i]
            s.returning = true
        } else {
            let u = rng.unit() * groupCumWeight[groupCumWeight.count - 1]
            var g = 0
            while g < groupCumWeight.count - 1 && u >= groupCumWeight[g] { g += 1 }
            s.group = UInt8(g)
            s.user = 100_000_000 + UInt64(rng.below(900_000_000))
            recentUsers[recentNext] = s.user
            recentGroups[recentNext] = s.group
            recentNext = (recentNext + 1) & (recentUsers.count - 1)
            recentCount = min(recentCount + 1, recentUsers.count)
        }
        let g = Int(s.group)
        let bucket = Double(csHash(s.user, UInt64(g) &+ 0x5EED) >> 11) * (1.0 / 9_007_199_254_740_992.0)
        var v = groupFirstVersion[g]
        while v < groupFirstVersion[g + 1] - 1 && bucket >= versionCumShare[v] { v += 1 }
        s.version = UInt8(v)
        s.broken = versionBroken[v]
        s.sidA = (rng.next() & ~(UInt64(0xF) << 12)) | (UInt64(0x4) << 12)
        s.sidB = (rng.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        s.walk = rng.next()
        s.time = time
        let length = drawLength()
        // Replay the walk to count the events inside the window.
        var probe = s
        var inside = 0
        while probe.steps < Int32(length) {
            csAdvance(&probe, first: probe.steps == 0)
            if probe.steps > Int32(length) || probe.time >= windowEnd { break }
            inside += 1
        }
        csAdvance(&s, first: true)
        s.remaining = Int32(inside)
        let slot: Int32
        if let f = freeSlots.popLast() {
            slot = f
            slots[Int(f)] = s
        } else {
            slot = Int32(slots.count)
            slots.append(s)
        }
        heapPush(CSHeapEntry(time: time, slot: slot))
        report.peakActiveSessions = max(report.peakActiveSessions, heap.count)
        return inside
    }

    // MARK: run

    mutating func run() throws {
        let rows = options.rows
        if rows > 0 {
            prepareCurve()
            var scheduled = 0
            var nextStart = timeAt(virtual: rng.unit() * min(4, Double(rows)))
            var written = 0
            while written < rows {
                if scheduled < rows && (heap.isEmpty || nextStart <= heap[0].time) {
                    scheduled += startSession(at: nextStart)
                    // Jitter of about one session, never past the last row.
                    let t = timeAt(virtual: Double(scheduled) + rng.unit() * min(8, Double(max(0, rows - scheduled))))
                    nextStart = max(nextStart, t)
                    continue
                }
                let top = heapPop()
                let slot = Int(top.slot)
                try emit(slot)
                written += 1
                slots[slot].remaining -= 1
                slots[slot].written += 1
                if slots[slot].remaining > 0 {
                    csAdvance(&slots[slot], first: false)
                    heapPush(CSHeapEntry(time: slots[slot].time, slot: top.slot))
                } else {
                    freeSlots.append(top.slot)
                }
            }
        }
        if pos > 0 {
            try out.write(UnsafeRawBufferPointer(start: buf, count: pos))
            pos = 0
        }
        // Distinct tenants, apps and versions.
        var tenants = Set<Int>(), apps = Set<String>()
        for v in 0..<versionGroup.count where versionsSeen & (1 << UInt64(v)) != 0 {
            let g = csGroups[versionGroup[v]]
            tenants.insert(g.tenantIndex)
            apps.insert("\(g.tenant)/\(g.app)")
            report.versions += 1
        }
        report.tenants = tenants.count
        report.apps = apps.count
    }

    // MARK: formatting

    @inline(__always) mutating func put(_ b: UInt8) {
        buf[pos] = b
        pos += 1
    }

    @inline(__always) mutating func put(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        memcpy(buf + pos, s.utf8Start, n)
        pos += n
    }

    /// A quoted string.
    @inline(__always) mutating func putQ(_ s: StaticString) {
        put(34); put(s); put(34)
    }

    @inline(__always) mutating func putInt(_ value: Int64) {
        var v = UInt64(value)
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { t in
            repeat {
                t[23 - n] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
                n += 1
            } while v > 0
            memcpy(buf + pos, t.baseAddress! + (24 - n), n)
        }
        pos += n
    }

    /// A number from tenths: `1299.0`, `909.3`.
    @inline(__always) mutating func putTenths(_ tenths: Int64) {
        putInt(tenths / 10)
        put(46)
        put(UInt8(48 + tenths % 10))
    }

    @inline(__always) mutating func two(_ v: Int64) {
        put(UInt8(48 + v / 10)); put(UInt8(48 + v % 10))
    }

    mutating func putISO(_ ms: Int64) {
        let secs = ms / 1000
        let day = secs / 86400
        if day != isoDay {
            isoDay = day
            let (y, m, d) = ValueParsers.civilFromDays(Int(day))
            withUnsafeMutableBytes(of: &isoDate) { b in
                b[0] = UInt8(48 + (y / 1000) % 10); b[1] = UInt8(48 + (y / 100) % 10)
                b[2] = UInt8(48 + (y / 10) % 10); b[3] = UInt8(48 + y % 10)
                b[4] = 45
                b[5] = UInt8(48 + m / 10); b[6] = UInt8(48 + m % 10)
                b[7] = 45
                b[8] = UInt8(48 + d / 10); b[9] = UInt8(48 + d % 10)
                b[10] = 84
            }
        }
        let date = isoDate
        withUnsafeBytes(of: date) { b in _ = memcpy(buf + pos, b.baseAddress!, 11) }
        pos += 11
        let sod = secs - day * 86400
        two(sod / 3600); put(58); two((sod / 60) % 60); put(58); two(sod % 60)
        put(46)
        let f = ms % 1000
        put(UInt8(48 + f / 100)); put(UInt8(48 + (f / 10) % 10)); put(UInt8(48 + f % 10))
        put(90)
    }

    @inline(__always) mutating func putUUID(_ a: UInt64, _ b: UInt64) {
        let hex: StaticString = "0123456789abcdef"
        let h = hex.utf8Start
        let p = buf + pos
        var i = 0
        for k in 0..<16 {
            if k == 8 || k == 12 { p[i] = 45; i += 1 }
            p[i] = h[Int((a >> UInt64(60 - 4 * k)) & 0xF)]
            i += 1
        }
        for k in 0..<16 {
            if k == 0 || k == 4 { p[i] = 45; i += 1 }
            p[i] = h[Int((b >> UInt64(60 - 4 * k)) & 0xF)]
            i += 1
        }
        pos += 36
    }

    // MARK: rows

    mutating func emit(_ slot: Int) throws {
        if pos > bufCapacity - 8192 {
            try out.write(UnsafeRawBufferPointer(start: buf, count: pos))
            pos = 0
        }
        let s = slots[slot]
        let g = csGroups[Int(s.group)]
        let t = s.time
        if report.firstTimeMs == nil { report.firstTimeMs = t }
        report.lastTimeMs = t
        report.rows += 1
        report.eventCounts[Int(s.event)] += 1
        if s.written == 0 {
            report.sessions += 1
            if s.returning { report.returningSessions += 1 }
        }
        if s.broken { report.brokenVersionRows += 1 }
        versionsSeen |= 1 << UInt64(s.version)

        let from = prefixOffset[Int(s.version)], to = prefixOffset[Int(s.version) + 1]
        memcpy(buf + pos, prefix + from, to - from)
        pos += to - from
        put(csEventNames[Int(s.event)])
        put("\",\"screen\":\"")
        put(csScreenNames[Int(s.eventScreen)])
        put(34)
        // session_id: missing on ~30% of web sessions' first events and ~1% of the others.
        let missing = (g.platform == csWeb && s.written == 0) ? rng.chance(0.3) : rng.chance(0.01)
        if missing {
            report.rowsWithoutSessionId += 1
        } else {
            put(",\"session_id\":\"")
            putUUID(s.sidA, s.sidB)
            put(34)
        }
        put(",\"user_id\":\"")
        put(g.tenantIndex == 0 ? 77 : 74)   // M or J
        putInt(Int64(s.user))
        put("\",\"ts\":")
        switch g.platform {
        case csWeb: put(34); putISO(t); put(34)
        case csAndroid: putInt(t)
        default: putInt(t / 1000)
        }
        put(",\"body\":{")
        writeBody(s, g)
        put("}}\n")
    }

    /// Common trailing keys: `experiment` (~95%, null in 70% of those), `network` on apps (~97%).
    mutating func putCommon(_ s: CSSession, _ g: CSGroupSpec, first: Bool) {
        var comma = !first
        if rng.chance(0.95) {
            if comma { put(44) }
            comma = true
            put("\"experiment\":")
            if rng.chance(0.7) { put("null") } else { putQ(csExperiments[rng.below(csExperiments.count)]) }
        }
        if g.platform != csWeb && rng.chance(0.97) {
            if comma { put(44) }
            put("\"network\":")
            putQ(csNetworks[rng.below(csNetworks.count)])
        }
    }

    mutating func putItem(_ tenant: Int, _ product: Int32, qty: UInt8, broken: Bool, withQty: Bool) {
        let p = products[tenant * csProductsPerTenant + Int(product)]
        put("{\"sku\":\"")
        put(tenant == 0 ? "MYN" : "JBG")
        putInt(Int64(p.sku))
        put("\",\"price\":")
        putTenths(Int64(p.mrp) * Int64(100 - Int(p.discount)) / 10)
        if withQty && !broken {
            put(",\"qty\":")
            putInt(Int64(qty))
        }
        if p.hasSize {
            put(",\"size\":")
            putQ(csSizes[Int(csHash(UInt64(p.sku), UInt64(product)) % 6)])
        }
        put(125)
    }

    mutating func putCartItems(_ s: CSSession, _ tenant: Int, count: Int) -> Int64 {
        put("\"items\":[")
        var value: Int64 = 0
        for i in 0..<count {
            if i > 0 { put(44) }
            let product = s.cartItem(i)
            let qty = s.cartItemQty(i)
            putItem(tenant, product, qty: qty, broken: s.broken, withQty: true)
            let p = products[tenant * csProductsPerTenant + Int(product)]
            value += Int64(p.mrp) * Int64(100 - Int(p.discount)) / 10 * Int64(qty)
        }
        put(93)
        return value
    }

    mutating func cartValue(_ s: CSSession, _ tenant: Int, count: Int) -> Int64 {
        var value: Int64 = 0
        for i in 0..<count {
            let p = products[tenant * csProductsPerTenant + Int(s.cartItem(i))]
            value += Int64(p.mrp) * Int64(100 - Int(p.discount)) / 10 * Int64(s.cartItemQty(i))
        }
        return value
    }

    mutating func putFilters(brandShare: Double) {
        put("\"filters\":{")
        var comma = false
        if rng.chance(brandShare) {
            put("\"brand\":"); putQ(csBrands[rng.below(csBrands.count)]); comma = true
        }
        if rng.chance(0.6) {
            if comma { put(44) }
            put("\"size\":"); putQ(csSizes[rng.below(csSizes.count)]); comma = true
        }
        if rng.chance(0.4) {
            if comma { put(44) }
            let lo = Int64(rng.below(10)) * 250
            put("\"price\":{\"min\":"); putInt(lo); put(",\"max\":"); putInt(lo + 500 + Int64(rng.below(6)) * 500)
            put(125)
        }
        put(125)
    }

    mutating func writeBody(_ s: CSSession, _ g: CSGroupSpec) {
        let tenant = g.tenantIndex
        switch s.event {
        case csScreenLoad:
            put("\"loadMs\":")
            putInt(Int64(120 + rng.below(400) + (rng.chance(0.05) ? rng.below(4000) : 0)))
            put(",\"referrer\":")
            if s.referrer == csNone { put("null") } else { putQ(csScreenNames[Int(s.referrer)]) }
            if s.eventScreen == csListing {
                put(",\"category\":")
                putQ(csCategories[rng.below(csCategories.count)])
                put(",\"sort\":")
                putQ(csSorts[rng.below(csSorts.count)])
            } else if s.eventScreen == csPdp {
                let p = products[tenant * csProductsPerTenant + Int(s.product)]
                put(",\"product\":{\"sku\":\"")
                put(tenant == 0 ? "MYN" : "JBG")
                putInt(Int64(p.sku))
                put("\",\"brand\":")
                putQ(csBrands[Int(p.brand)])
                put(",\"price\":")
                putTenths(Int64(p.mrp) * Int64(100 - Int(p.discount)) / 10)
                put(",\"mrp\":")
                putTenths(Int64(p.mrp) * 10)
                put(",\"discount\":")
                putInt(Int64(p.discount))
                if p.hasSize {
                    put(",\"sizes\":[")
                    let first = Int(csHash(UInt64(p.sku), 7) % 3)
                    let count = 2 + Int(csHash(UInt64(p.sku), 9) % UInt64(5 - first))   // up to XXL
                    for i in 0..<count {
                        if i > 0 { put(44) }
                        putQ(csSizes[first + i])
                    }
                    put(93)
                }
                put(125)
            } else if s.eventScreen == csCart {
                put(",\"cartCount\":")
                putInt(Int64(s.cartCount))
            }
            putCommon(s, g, first: false)
        case csClick:
            put("\"element\":")
            putQ(csElements[rng.below(csElements.count)])
            put(",\"position\":")
            let position = Int64(1 + rng.below(rng.chance(0.5) ? 10 : 40))
            if rng.chance(ClickstreamShape.mixedTypeStringShare) {
                report.positionStrings += 1
                put(34); putInt(position); put(34)
            } else {
                report.positionNumbers += 1
                putInt(position)
            }
            if s.pendingNav != csNone {
                put(",\"target\":")
                putQ(csScreenNames[Int(s.pendingNav)])
            }
            putCommon(s, g, first: false)
        case csScroll:
            put("\"depth\":0.")
            two(Int64(5 + rng.below(95)))
            put(",\"itemsSeen\":")
            putInt(Int64(rng.below(60)))
            putCommon(s, g, first: false)
        case csSearchEvent:
            put("\"query\":")
            putQ(csQueries[rng.below(csQueries.count)])
            put(",\"results\":")
            putInt(Int64(rng.chance(0.04) ? 0 : 1 + rng.below(5000)))
            put(",\"suggestion\":")
            put(rng.chance(0.35) ? "true" : "false")
            if rng.chance(0.3) {
                put(44)
                putFilters(brandShare: 0.8)
            }
            putCommon(s, g, first: false)
        case csFilter:
            putFilters(brandShare: 0.7)
            put(",\"results\":")
            putInt(Int64(rng.below(3000)))
            putCommon(s, g, first: false)
        case csAddToCart:
            put("\"items\":[")
            putItem(tenant, s.lastItem, qty: s.lastQty, broken: s.broken, withQty: true)
            put("],\"cartValue\":")
            putTenths(cartValue(s, tenant, count: Int(s.cartCount)))
            put(",\"source\":\"pdp\"")
            putCommon(s, g, first: false)
        case csRemoveFromCart:
            put("\"items\":[")
            putItem(tenant, s.lastItem, qty: s.lastQty, broken: s.broken, withQty: true)
            put("],\"cartValue\":")
            putTenths(cartValue(s, tenant, count: Int(s.cartCount)))
            putCommon(s, g, first: false)
        case csAddToWishlist:
            put("\"items\":[")
            putItem(tenant, s.lastItem, qty: 1, broken: s.broken, withQty: false)
            put("],\"collection\":")
            if rng.chance(0.8) { put("null") } else { put("\"favourites\"") }
            putCommon(s, g, first: false)
        case csCheckoutStart:
            let value = putCartItems(s, tenant, count: Int(s.cartCount))
            put(",\"cartValue\":")
            putTenths(value)
            if rng.chance(0.3) {
                put(",\"coupon\":")
                putQ(csCoupons[rng.below(csCoupons.count)])
            }
            putCommon(s, g, first: false)
        case csPurchase:
            // The cart is empty after the purchase; its items are still in `cart`.
            let count = Int(max(1, s.purchased))
            put("\"orderId\":\"")
            put(tenant == 0 ? "MYN" : "JBG")
            putInt(Int64(1_000_000_000 + rng.below(8_999_999_999)))
            put("\",")
            let value = putCartItems(s, tenant, count: count)
            put(",\"total\":")
            putTenths(value)
            put(",\"payment\":{\"mode\":")
            let mode = rng.below(csPaymentModes.count)
            putQ(csPaymentModes[mode])
            put(",\"bank\":")
            if mode == 1 || mode == 3 { putQ(csBanks[rng.below(csBanks.count)]) } else { put("null") }
            put(125)
            if rng.chance(0.25) {
                put(",\"coupon\":")
                putQ(csCoupons[rng.below(csCoupons.count)])
            }
            putCommon(s, g, first: false)
        default: // error
            let k = rng.below(csErrorCodes.count)
            put("\"code\":")
            putQ(csErrorCodes[k])
            put(",\"message\":")
            putQ(csErrorMessages[k])
            put(",\"fatal\":")
            put(rng.chance(0.1) ? "true" : "false")
            put(",\"retry\":")
            putInt(Int64(rng.below(3)))
            putCommon(s, g, first: false)
        }
    }
}

