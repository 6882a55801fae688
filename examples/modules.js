/* modules.js - mapping modules: a module exporting an object of paths,
 * a module exporting a function, and a whole directory of modules.
 *
 *   rampart examples/modules.js
 *   curl http://127.0.0.1:8088/multi/page1.html      (modules/multi_function.js)
 *   curl http://127.0.0.1:8088/myfunc.html           (modules/mymod.js)
 *   curl http://127.0.0.1:8088/scripts/hello.html    (modules/hello.js, modulePath)
 *
 * Modules are re-read when their file changes: no restart needed.
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/multi/":      { module: "modules/multi_function.js" },
        "/myfunc.html": { module: "modules/mymod" },
        "/scripts/":    { modulePath: "modules/" }
    }
});
