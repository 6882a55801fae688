-- bench/js-api.lua - wrk script for bench/js.sh's API case: the headers a
-- browser sends (10 besides Host), 4 cookies among them.
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-US,en;q=0.5"
wrk.headers["Accept-Encoding"] = "gzip, deflate, br"
wrk.headers["Connection"] = "keep-alive"
wrk.headers["Referer"] = "http://127.0.0.1/index.html"
wrk.headers["Upgrade-Insecure-Requests"] = "1"
wrk.headers["Sec-Fetch-Dest"] = "document"
wrk.headers["Sec-Fetch-Mode"] = "navigate"
wrk.headers["Cookie"] = "session=abc123def456; theme=dark; lang=en-US; tracking=xyz789"
