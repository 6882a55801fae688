/* upload.js - Posting Multipart Form Data: upload files, list the parts.
 *
 *   rampart examples/upload.js          then open http://127.0.0.1:8088/postfile.html
 *   curl -F file=@README.md -F Upload=Upload http://127.0.0.1:8088/showreq.txt
 *
 * Each part's content is a Buffer (binary-safe); files also appear in
 * req.params under their file name.
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/postfile.html": function () {
            var html = '<html><body><form action="/showreq.txt" ' +
                'enctype="multipart/form-data" method="POST">' +
                'File: <input type="FILE" name="file"/>' +
                '<input type="submit" name="Upload" value="Upload" />' +
                '</form></body></html>';
            return { html: html };
        },
        "/showreq.txt": function (req) {
            var out = "";
            var parts = req.postData ? req.postData.content : [];
            for (var i = 0; i < parts.length; i++) {
                var p = parts[i];
                out += rampart.utils.sprintf("part %d: name=%s filename=%s type=%s bytes=%d\n",
                    i, p.name, p.filename || "-", p["Content-Type"] || "-", p.content.length);
            }
            return { txt: out || "no parts\n" };
        }
    }
});
