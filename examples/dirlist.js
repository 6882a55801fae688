/* dirlist.js - directoryFunc: a JavaScript listing for directories without
 * an index.html (the spec's "Built-in Directory Function", req.fsPath).
 * Use directoryFunc: true for mod_dirlist's built-in listing instead.
 *
 *   rampart examples/dirlist.js
 *   curl http://127.0.0.1:8088/modules/
 */
var server = require("rampart-server");

function dirlist(req) {
    var html = "<!DOCTYPE html>\n" +
        '<html><head><meta charset="UTF-8"><title>Index of ' + req.path.path +
        "</title></head><body><h1>Index of " + req.path.path +
        "</h1><table><tr><th>Name</th><th>Last modified</th><th>Size</th></tr>";

    function hsize(size) {
        var ret = rampart.utils.sprintf("%d", size);
        if (size >= 1073741824)
            ret = rampart.utils.sprintf("%.1fG", size / 1073741824);
        else if (size >= 1048576)
            ret = rampart.utils.sprintf("%.1fM", size / 1048576);
        else if (size >= 1024)
            ret = rampart.utils.sprintf("%.1fk", size / 1024);
        return ret;
    }

    if (req.path.path != "/")
        html += '<tr><td><a href="../">Parent Directory</a></td><td></td><td>-</td></tr>';
    var entries = rampart.utils.readdir(req.fsPath).sort();
    for (var i = 0; i < entries.length; i++) {
        var d = entries[i];
        var st = rampart.utils.stat(req.fsPath + "/" + d);
        if (st.isDirectory())
            d += "/";
        html = rampart.utils.sprintf('%s<tr><td><a href="%s">%s</a></td><td>%s</td><td>%s</td></tr>',
            html, d, d, st.mtime.toLocaleString(), hsize(st.size));
    }
    html += "</table></body></html>";
    return { html: html };
}

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    directoryFunc: dirlist,
    map: {
        "/": "."          /* this examples/ directory */
    }
});
