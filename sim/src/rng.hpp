// sim/src/rng.hpp: the simulator's only source of randomness, a seeded xoshiro256**
// generator initialised through splitmix64. Every draw is integer arithmetic, so a seed
// gives the same stream under every compiler and standard library; std::*_distribution
// is never used because its output is implementation-defined.
#pragma once

#include <cstdint>

namespace connpool::sim {

/// splitmix64 step: used to expand one 64-bit seed into generator state and to derive
/// independent streams (swarm draws, scheduler choices, world draws) from one seed.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// xoshiro256** (Blackman and Vigna). Not thread-safe; one per stream.
class Rng {
public:
    /// `stream` separates the generators derived from one seed.
    explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) noexcept {
        std::uint64_t sm = seed ^ (stream * 0xd1b54a32d192ed03ULL);
        for (auto& word : s_) word = splitmix64(sm);
    }

    std::uint64_t next() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Uniform in [0, n); 0 when n == 0. Rejection below 2^64 mod n, so unbiased.
    std::uint64_t below(std::uint64_t n) noexcept {
        if (n == 0) return 0;
        const std::uint64_t threshold = (0 - n) % n;
        for (int guard = 0; guard < 64; ++guard) {
            const std::uint64_t r = next();
            if (r >= threshold) return r % n;
        }
        return next() % n;  // 64 rejections in a row has probability < 2^-64
    }

    /// Uniform in [lo, hi] (inclusive); lo when hi <= lo.
    std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
        if (hi <= lo) return lo;
        return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
    }

    /// True with probability pct/100.
    bool percent(std::int64_t pct) noexcept { return pct > 0 && static_cast<std::int64_t>(below(100)) < pct; }

    /// One element of a non-empty array, uniformly.
    template <typename T, std::size_t N>
    T pick(const T (&values)[N]) noexcept {
        return values[below(N)];
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace connpool::sim
