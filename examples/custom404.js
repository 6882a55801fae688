/* custom404.js - notFoundFunc answers every 404: unknown paths, missing
 * files, and (without developerMode) JavaScript errors, with req.errMsg.
 *
 *   rampart examples/custom404.js
 *   curl -i http://127.0.0.1:8088/nowhere.html
 *   curl -i http://127.0.0.1:8088/broken.html      (a script error -> 404 + errMsg)
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    developerMode: false,
    notFoundFunc: function (req) {
        return {
            status: 404,
            html: "<html><head><title>404 Not Found</title></head><body>" +
                  "<center><h1>Not Found</h1><p>The requested URL " +
                  rampart.utils.sprintf("%H", req.path.path) +
                  " was not found on this server.</p>" +
                  (req.errMsg ? "<pre>" + rampart.utils.sprintf("%H", req.errMsg) + "</pre>" : "") +
                  "</center></body></html>"
        };
    },
    map: {
        "/broken.html": function () {
            return { html: undefinedVariable };
        }
    }
});
