// NginxServer (nginx_server.hpp): config file, fork/exec, readiness probe, stub_status
// query and cleanup, with plain POSIX calls.
#include "nginx_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace connpool::real::testing {

namespace {

using namespace std::chrono_literals;

constexpr int start_attempts_max = 5;        // a new port each time the port was taken
constexpr auto ready_wait_max = 5s;          // nginx must accept within this
constexpr auto stop_wait_max = 2s;           // after SIGTERM, before SIGKILL
constexpr auto poll_interval = 10ms;

bool is_executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// A port on 127.0.0.1 that was free a moment ago (bound to :0, then closed). nginx may
// still lose it to another process; start() then tries another one.
unsigned short free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    unsigned short port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

// A blocking conn to 127.0.0.1:port with send and receive timeouts; -1 if refused.
int connect_loopback(unsigned short port, std::chrono::milliseconds io_timeout) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(io_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((io_timeout.count() % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string config(const std::string& dir, unsigned short port, const NginxOptions& o) {
    std::ostringstream c;
    c << "# written by connpool's real_test (real/tests/nginx_server.cpp)\n"
      << "daemon off;\n"
      << "master_process off;\n"  // one process serves: the test owns exactly one pid
      << "worker_processes 1;\n"
      << "pid " << dir << "/nginx.pid;\n"
      << "error_log " << dir << "/error.log warn;\n"
      << "events { worker_connections 1024; }\n"
      << "http {\n"
      << "    access_log off;\n"
      << "    default_type text/plain;\n"
      << "    client_body_temp_path " << dir << "/client_body;\n"
      << "    proxy_temp_path " << dir << "/proxy;\n"
      << "    fastcgi_temp_path " << dir << "/fastcgi;\n"
      << "    uwsgi_temp_path " << dir << "/uwsgi;\n"
      << "    scgi_temp_path " << dir << "/scgi;\n"
      << "    keepalive_timeout " << o.keepalive_timeout.count() << "ms;\n"
      << "    keepalive_requests " << o.keepalive_requests << ";\n"
      << "    server {\n"
      << "        listen 127.0.0.1:" << port << ";\n"
      << "        location = /status { stub_status; }\n"
      << "        location / { return 200 \"ok\\n\"; }\n"
      << "    }\n"
      << "}\n";
    return c.str();
}

}  // namespace

std::string NginxServer::find_binary() {
    if (const char* env = std::getenv("CONNPOOL_NGINX"); env != nullptr && *env != '\0') {
        return is_executable(env) ? std::string(env) : std::string();
    }
    for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx", "/usr/local/bin/nginx"}) {
        if (is_executable(p)) return p;
    }
    if (const char* path = std::getenv("PATH")) {
        std::stringstream dirs(path);
        std::string d;
        while (std::getline(dirs, d, ':')) {
            if (!d.empty() && is_executable(d + "/nginx")) return d + "/nginx";
        }
    }
    return {};
}

NginxServer::NginxServer(NginxOptions options) {
    const std::string binary = find_binary();
    if (binary.empty()) {
        error_ = std::getenv("CONNPOOL_NGINX") != nullptr
                     ? "CONNPOOL_NGINX=" + std::string(std::getenv("CONNPOOL_NGINX")) + " is not an executable"
                     : "nginx not found in /usr/sbin, /usr/local/sbin or PATH";
        return;
    }
    char dir_template[] = "/tmp/connpool-nginx-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) {
        error_ = std::string("mkdtemp: ") + std::strerror(errno);
        return;
    }
    dir_ = dir_template;
    for (int attempt = 0; attempt < start_attempts_max; ++attempt) {
        bool port_taken = false;
        if (start_once(binary, options, port_taken)) return;
        if (!port_taken) break;
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
}

bool NginxServer::start_once(const std::string& binary, NginxOptions options, bool& port_taken) {
    port_ = free_port();
    if (port_ == 0) {
        error_ = "no free port on 127.0.0.1";
        return false;
    }
    const std::string conf_path = dir_ + "/nginx.conf";
    const std::string log_path = dir_ + "/error.log";
    const std::string out_path = dir_ + "/stderr.log";
    {
        std::ofstream conf(conf_path, std::ios::trunc);
        conf << config(dir_, port_, options);
        if (!conf) {
            error_ = "cannot write " + conf_path;
            return false;
        }
    }
    std::filesystem::remove(log_path);
    // Everything the child needs is prepared before fork: after it, only exec-safe calls.
    const std::string prefix = dir_ + "/";
    std::vector<std::string> args = {binary, "-p", prefix, "-c", conf_path, "-e", log_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        error_ = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // the test process died: nginx goes too
        if (getppid() != parent) _exit(127);
        const int null_in = open("/dev/null", O_RDONLY);
        const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (null_in >= 0) dup2(null_in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        // The test's own sockets must not live on in nginx (a conn the test closes would
        // stay open): close every other descriptor.
        if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
            for (int fd = 3; fd < 65536; ++fd) close(fd);
        }
        execv(argv[0], argv.data());
        _exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + ready_wait_max;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            const std::string log = read_file(log_path) + read_file(out_path);
            port_taken = log.find("Address already in use") != std::string::npos;
            error_ = "nginx (" + binary + ") exited at startup with status " +
                     std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) + ": " + log;
            return false;
        }
        const int fd = connect_loopback(port_, 1000ms);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    error_ = "nginx did not accept on 127.0.0.1:" + std::to_string(port_) + " within 5 s: " + read_file(log_path);
    stop();
    return false;
}

void NginxServer::stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + stop_wait_max;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);  // SIGKILL cannot be ignored: returns promptly
            break;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    pid_ = -1;
}

NginxServer::~NginxServer() {
    stop();
    if (!dir_.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
}

std::string NginxServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::optional<NginxStatus> NginxServer::status() const {
    if (pid_ <= 0) return std::nullopt;
    const int fd = connect_loopback(port_, 2000ms);
    if (fd < 0) return std::nullopt;
    const std::string request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        close(fd);
        return std::nullopt;
    }
    std::string response;
    char buf[1024];
    for (int reads = 0; reads < 64; ++reads) {  // the answer is ~150 bytes; bounded anyway
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        response.append(buf, static_cast<std::size_t>(n));
    }
    close(fd);
    // "Active connections: 1 \nserver accepts handled requests\n 5 5 7 \n..."
    NginxStatus s;
    const std::size_t active = response.find("Active connections:");
    const std::size_t counters = response.find("server accepts handled requests");
    if (active == std::string::npos || counters == std::string::npos) return std::nullopt;
    long handled = 0;
    if (std::sscanf(response.c_str() + active, "Active connections: %ld", &s.active) != 1) return std::nullopt;
    if (std::sscanf(response.c_str() + counters, "server accepts handled requests %ld %ld %ld", &s.accepts, &handled,
                    &s.requests) != 3)
        return std::nullopt;
    return s;
}

}  // namespace connpool::real::testing
