/* chunk_file.js - Chunking Replies: send a large file in chunks.
 *
 *   rampart examples/chunk_file.js [file]     (default: this script)
 *   curl -O http://127.0.0.1:8088/myfile.mp4
 *
 * {chunk: true, <ext>: callback} answers with Transfer-Encoding: chunked and
 * calls the callback once per chunk with req.chunkIndex set; it sends with
 * req.chunkSend(data) and ends with req.chunkEnd(data).  The next callback
 * runs when the client has taken the previous chunk (a slow client never
 * makes the server buffer the whole file) and, with chunkDelay, not before
 * the next beat.  Between chunks the thread serves other requests.
 */
var server = require("rampart-server");
var utils = rampart.utils;

var file = process.argv[2] || process.scriptPath + "/chunk_file.js";
var chunkSize = 4096;

function sendchunk(req) {
    var chunk = utils.readFile(req.file, req.chunkIndex * req.chunkSize, req.chunkSize);

    if (req.stat.size > (req.chunkIndex + 1) * req.chunkSize)
        req.chunkSend(chunk);
    else
        req.chunkEnd(chunk);
}

function sendfile(req) {
    req.file = file;
    req.chunkSize = chunkSize; // for convenience and available in sendchunk above
    req.stat = utils.stat(req.file);
    return {
        mp4: sendchunk,
        chunk: true,
        headers: {
            "Content-Disposition": 'attachment; filename="myfile.mp4"'
        }
    };
}

/* a clock: one line per second, forever, until the client goes away */
function clock(req) {
    return {
        chunk: true,
        chunkDelay: 1000,
        txt: function (req) {
            req.printf("%d: %s\n", req.chunkIndex, new Date().toISOString());
            req.chunkSend(null); // send what printf put in the server buffer
        }
    };
}

utils.printf("mp4 is at http://localhost:8088/myfile.mp4\n");
server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/": function (req) {
            return {html: '<html><body><a href="/myfile.mp4">myfile.mp4</a> ' +
                          '<a href="/clock.txt">clock</a></body></html>'};
        },
        "/myfile.mp4": sendfile,
        "/clock.txt": clock
    }
});
