import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The root secret that seals every other secret Paylink stores (link-signing keys today,
/// webhook secrets later). Kept outside the database, so a copy of the database alone
/// reveals no signing key.
///
/// From `PAYLINK_MASTER_KEY` (base64 of 32 bytes; required when several instances share one
/// database), else `DATA_DIR/master.key`, created on first run with mode 0600.
public struct DataKey: Sendable, CustomStringConvertible {
    private let key: SymmetricKey

    public init(base64: String) throws {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw ConfigurationError.invalid("PAYLINK_MASTER_KEY must be the base64 encoding of 32 random bytes")
        }
        key = SymmetricKey(data: data)
    }

    /// Where the key lives in a data directory when `PAYLINK_MASTER_KEY` does not give it.
    public static func file(in directory: URL) -> URL {
        directory.appendingPathComponent("master.key")
    }

    /// Loads `master.key` from the data directory, creating it (0600) if absent.
    public static func loadOrCreate(in directory: URL) throws -> DataKey {
        let file = file(in: directory)
        if let existing = try? String(contentsOf: file, encoding: .utf8) {
            return try DataKey(base64: existing)
        }
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
        try SecureFile.write(Data((fresh + "\n").utf8), to: file)
        return try DataKey(base64: fresh)
    }

    /// A subkey for one purpose (HKDF-SHA256), so no two uses ever share key material.
    func subkey(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("paylink/\(purpose)".utf8), outputByteCount: 32)
    }

    /// AES-256-GCM with the purpose bound as associated data.
    func seal(_ plaintext: Data, purpose: String) throws -> Data {
        try AES.GCM.seal(plaintext, using: subkey(purpose), authenticating: Data(purpose.utf8)).combined!
    }

    func open(_ sealed: Data, purpose: String) throws -> Data {
        try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: subkey(purpose), authenticating: Data(purpose.utf8))
    }

    public var description: String { "DataKey(redacted)" }
}

/// Writes secrets with owner-only permissions from the first byte (no window where they are world-readable).
enum SecureFile {
    static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let path = url.path
        let fd = systemOpen(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        _ = fchmod(fd, 0o600)
        let written = data.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }
}

#if canImport(Glibc)
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { Glibc.write(fd, buffer, count) }
#else
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Darwin.open(path, flags, mode) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { Darwin.write(fd, buffer, count) }
#endif
