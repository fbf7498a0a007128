// connpool-fetch: the smallest program that embeds connpool::real::Client (docs/REAL.md).
// Fetches URL N times, one request after another, from an io_context run by this thread,
// then prints the last status, the body size and how many dials the pool made.
// Usage: connpool-fetch URL [N]
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

#include <connpool/real/client.hpp>

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: connpool-fetch URL [N]\n");
        return 2;
    }
    const std::string url = argv[1];
    const int n = argc == 3 ? std::atoi(argv[2]) : 1;
    if (n < 1 || n > 1000000) {
        std::fprintf(stderr, "connpool-fetch: N must be 1..1000000\n");
        return 2;
    }

    boost::asio::io_context ioc;
    connpool::real::ClientOptions options;            // Go's DefaultTransport settings
    options.pool.max_idle_conns_per_host = 4;
    connpool::real::Client client(ioc.get_executor(), options);

    int done = 0, failures = 0;
    std::function<void()> next = [&] {
        connpool::real::Request request;
        request.url = url;
        request.timeout = std::chrono::seconds(10);
        client.async_request(std::move(request), [&](std::error_code error, connpool::real::Response response) {
            ++done;
            if (error) {
                ++failures;
                std::fprintf(stderr, "request %d: %s\n", done, error.message().c_str());
            } else if (done == n) {
                std::printf("status %u, %zu body bytes, reused %s\n", response.status, response.body.size(),
                            response.reused ? "yes" : "no");
            }
            if (done < n) next();
            else client.shutdown();  // closes the idle conns so that run() returns
        });
    };
    next();
    ioc.run();

    const connpool::real::ClientStats stats = client.stats();
    std::printf("%d requests, %d failed, %llu dials, %llu reuses\n", n, failures,
                static_cast<unsigned long long>(stats.pool.dials_started),
                static_cast<unsigned long long>(stats.reuses));
    return failures == 0 ? 0 : 1;
}
