// A small HTTP/1.1 server on POSIX sockets: GET and HEAD only, one request per connection
// (`Connection: close`), one thread per connection. Enough for a local dashboard; no TLS, no
// keep-alive, no request bodies. Written for `ablate serve` (docs/dashboard.md).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target's path, percent-decoded ("/api/run").
    public var path: String
    /// Query parameters, percent-decoded ("path" → "quickstart/2af9975fbd3d").
    public var query: [String: String]
    /// The raw request target as sent ("/api/run?path=..%2Fx").
    public var target: String

    public init(method: String, target: String) {
        self.method = method
        self.target = target
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = Self.decode(String(parts.first ?? ""))
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = Self.decode(String(kv[0]), plus: true)
                query[key] = kv.count > 1 ? Self.decode(String(kv[1]), plus: true) : ""
            }
        }
        self.query = query
    }

    /// Percent-decoding; an invalid escape is kept as written (and fails the path checks later).
    static func decode(_ s: String, plus: Bool = false) -> String {
        let text = plus ? s.replacingOccurrences(of: "+", with: " ") : s
        return text.removingPercentEncoding ?? text
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(status: Int, contentType: String, text: String) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8))
    }

    public static func json(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json; charset=utf-8", text: text)
    }

    public static func error(_ status: Int, _ message: String) -> HTTPResponse {
        json(JSONValue.map(["error": .string(message), "status": .int(status)]).text, status: status)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 413: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Internal Server Error"
        }
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public final class HTTPServer: @unchecked Sendable {
    public let host: String
    /// The port actually bound (differs from the one asked for when that was 0).
    public private(set) var port: Int
    private var listener: Int32 = -1
    private let handler: @Sendable (HTTPRequest) -> HTTPResponse

    /// Binds and listens; throws a `ServerError` that says what went wrong (port in use, a host
    /// that does not resolve or is not an address of this machine).
    public init(host: String, port: Int, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        self.host = host
        self.port = port
        self.handler = handler
        signal(SIGPIPE, SIG_IGN)

        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ServerError("cannot resolve host '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }

        var lastError = ""
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd < 0 { lastError = String(cString: strerror(errno)); continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                let code = errno
                close(fd)
                if code == EADDRINUSE {
                    throw ServerError("port \(port) on \(host) is already in use (another `ablate serve`?); choose another with --port")
                }
                if code == EADDRNOTAVAIL {
                    throw ServerError("'\(host)' is not an address of this machine; cannot listen there")
                }
                if code == EACCES {
                    throw ServerError("no permission to listen on port \(port) (ports below 1024 need root); choose another with --port")
                }
                lastError = String(cString: strerror(code))
                continue
            }
            guard listen(fd, 64) == 0 else {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
            }
            if Int32(address.ss_family) == AF_INET6 {
                self.port = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
                }
            } else {
                self.port = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
                }
            }
            listener = fd
            return
        }
        throw ServerError("cannot listen on \(host):\(port): \(lastError)")
    }

    /// Accepts connections until the process ends; each is served on its own thread.
    public func run() -> Never {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                    if errno != EINTR { usleep(50_000) }
                    continue
                }
                continue
            }
            let handler = self.handler
            let thread = Thread { Self.serve(client, handler) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    static func serve(_ fd: Int32, _ handler: @Sendable (HTTPRequest) -> HTTPResponse) {
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = [13, 10, 13, 10]
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            head += buffer[0..<n]
            if head.count >= 4, (0...(head.count - 4)).contains(where: { head[$0..<($0 + 4)].elementsEqual(end) }) { break }
            if head.count > 16 * 1024 {
                write(fd, HTTPResponse.error(413, "request head too large"), head: false)
                return
            }
        }
        let text = String(decoding: head, as: UTF8.self)
        let line = text.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            write(fd, HTTPResponse.error(400, "malformed request line"), head: false)
            return
        }
        let method = String(parts[0])
        guard method == "GET" || method == "HEAD" else {
            write(fd, HTTPResponse.error(405, "only GET and HEAD are served (the dashboard is read-only)"), head: false)
            return
        }
        let response = handler(HTTPRequest(method: method, target: String(parts[1])))
        write(fd, response, head: method == "HEAD")
    }

    static func write(_ fd: Int32, _ response: HTTPResponse, head: Bool) {
        var out = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(response.status))\r\n"
        out += "Content-Type: \(response.contentType)\r\n"
        out += "Content-Length: \(response.body.count)\r\n"
        out += "Cache-Control: no-store\r\n"
        out += "X-Content-Type-Options: nosniff\r\n"
        out += "Content-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'\r\n"
        out += "Connection: close\r\n\r\n"
        var bytes = Array(out.utf8)
        if !head { bytes += response.body }
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
