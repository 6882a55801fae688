/* defer.js - The Return Object with Defer: answer later with req.reply().
 *
 *   rampart examples/defer.js
 *   curl http://127.0.0.1:8088/defer.txt      (answers after 2 seconds)
 *
 * The function returns {defer: true}; a timer (or an event) answers with
 * req.reply(returnObject) later.  Any number of requests may wait at once on
 * one thread; the thread serves other requests meanwhile.  If the client
 * goes away first, req.reply() returns false and nothing is sent.
 */
var server = require("rampart-server");

function defer_test(req) {
    // send reply after waiting 2 seconds
    setTimeout(function () {
        req.reply({text: "made ya wait!"});
    }, 2000);

    return {defer: true}; // don't send to client yet.
}

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/defer.txt": defer_test,
        /* the server buffer works with defer: printed before and after */
        "/count.txt": function (req) {
            var n = 0;
            req.printf("counting:");
            var iv = setInterval(function () {
                req.printf(" %d", ++n);
                if (n == 5) {
                    clearInterval(iv);
                    req.reply({txt: "\n"});
                }
            }, 200);
            return {defer: true};
        }
    }
});
