import AsyncHTTPClient
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A headless Chromium for the browser tests, driven over W3C WebDriver: chromedriver runs as a
/// child process on a loopback port it picks itself, and is spoken to in plain JSON over
/// AsyncHTTPClient — no WebDriver library, so what the test does is all here to read.
enum Browser {
    static let chromedriver = executable(["chromedriver"])
    static let chromium = executable(["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"])

    /// Whether this machine can run the browser tests (CI installs `chromium chromium-driver`).
    static var isAvailable: Bool { chromedriver != nil && chromium != nil }

    /// Runs `body` with a fresh headless Chromium (its own temporary profile), then ends the
    /// session and kills chromedriver and every Chromium process it started — also when `body`
    /// or the start-up throws.
    static func withSession<Value>(_ body: (WebDriverSession) async throws -> Value) async throws -> Value {
        guard let chromedriver, let chromium else { throw TestFailure("chromedriver or Chromium is not installed") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paylink-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let profile = directory.appendingPathComponent("profile").path
        let logURL = directory.appendingPathComponent("chromedriver.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromedriver)
        // Port 0: chromedriver binds a free one itself (loopback only, its default) and prints it.
        process.arguments = ["--port=0"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let pid = process.processIdentifier
        var session: WebDriverSession?
        do {
            let port = try await listeningPort(process, log: logURL)
            session = try await WebDriverSession.create(
                driver: "http://127.0.0.1:\(port)", capabilities: capabilities(chromium: chromium, profile: profile))
            let value = try await body(session!)
            await stop(session, process: process, pid: pid, profile: profile, log: log, directory: directory)
            return value
        } catch {
            let tail = (try? String(contentsOf: logURL, encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
            await stop(session, process: process, pid: pid, profile: profile, log: log, directory: directory)
            if session == nil { throw TestFailure("browser did not start: \(error)\nchromedriver log:\n\(tail)") }
            throw error
        }
    }

    private static func capabilities(chromium: String, profile: String) -> [String: Any] {
        let arguments = [
            "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
            // Containers run tests as root, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--user-data-dir=\(profile)", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--no-proxy-server", "--password-store=basic", "--disable-features=Translate,AutofillServerCommunication,MediaRouter",
            "--lang=en-GB", "--window-size=1024,900",
        ]
        return [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": ["implicit": 0, "pageLoad": 20_000, "script": 10_000],
                    "goog:chromeOptions": ["binary": chromium, "args": arguments, "prefs": ["intl.accept_languages": "en-GB,en"]],
                ] as [String: Any]
            ]
        ]
    }

    /// Reads chromedriver's "started successfully on port N" line (bounded: 15 s).
    private static func listeningPort(_ process: Process, log: URL) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "started successfully on port ") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return port }
            }
            guard process.isRunning else { throw TestFailure("chromedriver exited with \(process.terminationStatus)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("chromedriver did not report its port within 15 s")
    }

    /// Ends the session politely, then makes sure: chromedriver gets SIGTERM (SIGKILL after 5 s),
    /// and any Chromium process it started — found as its descendants, or by our unique profile
    /// directory on its command line if it was re-parented — is killed by its pid.
    private static func stop(
        _ session: WebDriverSession?, process: Process, pid: pid_t, profile: String, log: FileHandle, directory: URL
    ) async {
        if let session { try? await session.quit() }
        var strays = Set(descendants(of: pid)).union(processes(mentioning: profile))
        if process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(pid, SIGKILL) }
        }
        strays.formUnion(processes(mentioning: profile))
        for stray in strays where stray != pid { kill(stray, SIGKILL) }
        try? log.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every process below `root` in the process tree (Linux `/proc`; empty elsewhere).
    static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for pid in allProcesses() {
            guard let stat = readProc(pid, "stat"), let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm)": state, ppid, …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(pid) }
        }
        var found: [pid_t] = []
        var queue = children[root] ?? []
        while let next = queue.popLast() {
            found.append(next)
            queue += children[next] ?? []
        }
        return found
    }

    /// Processes whose command line contains `marker` (Linux `/proc`; empty elsewhere).
    static func processes(mentioning marker: String) -> [pid_t] {
        allProcesses().filter { readProc($0, "cmdline")?.contains(marker) == true }
    }

    private static func allProcesses() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
    }

    private static func readProc(_ pid: pid_t, _ file: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/\(file)") else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func executable(_ names: [String]) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for name in names {
            for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
                return directory + "/" + name
            }
        }
        return nil
    }
}

/// One WebDriver session: the handful of W3C commands the payment tests need.
struct WebDriverSession: Sendable {
    let http: HTTPClient
    /// `http://127.0.0.1:PORT/session/ID`
    let url: String

    /// An error answer: `{"value": {"error": "no such element", "message": …}}`.
    struct Failure: Error, CustomStringConvertible {
        let status: Int
        let error: String
        let message: String
        var description: String { "WebDriver \(status) \(error): \(message.prefix(500))" }
    }

    static func create(driver: String, capabilities: [String: Any], http: HTTPClient = .shared) async throws -> WebDriverSession {
        let value = try await send(http, "POST", driver + "/session", capabilities, timeout: .seconds(60))
        guard let id = (value as? [String: Any])?["sessionId"] as? String else { throw TestFailure("no session id in \(String(describing: value))") }
        return WebDriverSession(http: http, url: "\(driver)/session/\(id)")
    }

    func quit() async throws { _ = try await command("DELETE", "", nil, timeout: .seconds(15)) }

    /// Navigates and waits for the page's load event (bounded by the session's pageLoad timeout).
    func open(_ address: String) async throws { _ = try await command("POST", "/url", ["url": address]) }

    func currentURL() async throws -> String { try await command("GET", "/url", nil) as? String ?? "" }

    /// The element matching a CSS selector (or, with `xpath`, an XPath expression).
    func element(_ selector: String, xpath: Bool = false) async throws -> String {
        let value = try await command("POST", "/element", ["using": xpath ? "xpath" : "css selector", "value": selector])
        guard let id = (value as? [String: Any])?["element-6066-11e4-a52e-4f735466cecf"] as? String else {
            throw TestFailure("no element reference for \(selector)")
        }
        return id
    }

    /// Types into an element key by key, so the page sees each `input` event as a person's typing.
    func type(_ text: String, into selector: String) async throws {
        _ = try await command("POST", "/element/\(try await element(selector))/value", ["text": text])
    }

    func click(_ selector: String, xpath: Bool = false) async throws {
        _ = try await command("POST", "/element/\(try await element(selector, xpath: xpath))/click", [:])
    }

    /// Runs `script` (a function body: `return …`) in the page and gives back its JSON value.
    func run(_ script: String) async throws -> Any? {
        try await command("POST", "/execute/sync", ["script": script, "args": [Any]()])
    }

    func string(_ script: String) async throws -> String { try await run(script) as? String ?? "" }

    /// Polls `script` until it returns `true`, riding over navigations in between (bounded).
    func waitUntil(_ what: String, timeout: Duration = .seconds(15), _ script: String) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            do {
                if try await run(script) as? Bool == true { return }
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let address = (try? await currentURL()) ?? "?"
        let text = (try? await string("return document.body ? document.body.innerText : ''")) ?? "?"
        throw TestFailure("timed out after \(timeout) waiting for \(what) at \(address)\npage: \(text.prefix(800))\nlast error: \(last)")
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]?, timeout: TimeAmount = .seconds(30)) async throws -> Any? {
        try await Self.send(http, method, url + path, body, timeout: timeout)
    }

    private static func send(_ http: HTTPClient, _ method: String, _ url: String, _ body: [String: Any]?, timeout: TimeAmount) async throws -> Any? {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await http.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes), options: [.fragmentsAllowed])) as? [String: Any]
        let value = object?["value"]
        guard (200..<300).contains(response.status.code) else {
            let error = value as? [String: Any]
            throw Failure(
                status: Int(response.status.code), error: error?["error"] as? String ?? "unknown",
                message: error?["message"] as? String ?? String(buffer: bytes))
        }
        return value is NSNull ? nil : value
    }
}
