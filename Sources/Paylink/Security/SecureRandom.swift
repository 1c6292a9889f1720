#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes from the operating system's CSPRNG, as many as asked for in one call.
///
/// `SystemRandomNumberGenerator` draws 8 bytes per `getrandom` system call, so a 24-character
/// id took three calls and a 16-byte nonce two: ~8 system calls per created link. glibc's
/// `arc4random_buf` (2.36+) and Darwin's fill the whole buffer from the same kernel source
/// with one.
enum SecureRandom {
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        arc4random_buf(base, buffer.count)
    }
}
