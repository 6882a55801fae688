/* demo.js - the demo site (examples/www) plus every JavaScript example on
 * one server: what `make run-js` starts.
 *
 *   build/bin/rampart examples/demo.js        then open http://127.0.0.1:8088/
 *
 * The links are in the "JavaScript examples" section of examples/www/index.html.
 */
var server = require("rampart-server");
var utils = rampart.utils;

/* Globals are copied into every server thread. */
var started = new Date();

function showreq(req) {
    if (req.body.length)
        req.body = utils.bufferToString(req.body);
    return { txt: utils.sprintf("%3J", req) };
}

function dirlist(req) {
    var html = '<!DOCTYPE html>\n<html><head><meta charset="UTF-8"><title>Index of ' +
        req.path.path + '</title><link rel="stylesheet" href="/style.css"></head><body><main>' +
        "<h1>Index of " + req.path.path + "</h1><table>";
    if (req.path.path != "/")
        html += '<tr><td><a href="../">Parent Directory</a></td><td></td><td>-</td></tr>';
    var entries = utils.readdir(req.fsPath).sort();
    for (var i = 0; i < entries.length; i++) {
        var d = entries[i];
        var st = utils.stat(req.fsPath + "/" + d);
        if (st.isDirectory())
            d += "/";
        html += utils.sprintf('<tr><td><a href="%s">%s</a></td><td>%s</td><td>%d</td></tr>',
            d, d, st.mtime.toLocaleString(), st.size);
    }
    return { html: html + "</table></main></body></html>" };
}

var pid = server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    developerMode: true,
    scriptTimeout: 5,
    directoryFunc: dirlist,
    notFoundFunc: function (req) {
        return {
            status: 404,
            html: '<html><head><title>404 Not Found</title><link rel="stylesheet" href="/style.css">' +
                  "</head><body><main><h1>Not Found</h1><p>The requested URL " +
                  utils.sprintf("%H", req.path.path) + " was not found on this server.</p>" +
                  '<p><a href="/">home</a></p></main></body></html>'
        };
    },
    map: {
        "/": "www",
        "/source/": ".",
        "/helloWorld.html": function () {
            return { html: "<pre>Hello World!</pre>" };
        },
        "/uptime.txt": function () {
            return { txt: "up since " + started.toISOString() + "\n" };
        },
        "/showreq.txt": showreq,
        "/post.html": function () {
            return { html: '<html><head><link rel="stylesheet" href="/style.css"></head><body><main>' +
                '<h1>Post a form</h1><form action="/showreq.txt" method="POST">' +
                '<label for="fname">First name:</label><br><input type="text" id="fname" name="fname"><br>' +
                '<label for="lname">Last name:</label><br><input type="text" id="lname" name="lname"> ' +
                '<input type="submit" name="go"></form></main></body></html>' };
        },
        "/postfile.html": function () {
            return { html: '<html><head><link rel="stylesheet" href="/style.css"></head><body><main>' +
                '<h1>Upload a file</h1><form action="/upload.txt" enctype="multipart/form-data" method="POST">' +
                'File: <input type="FILE" name="file"/> <input type="submit" name="Upload" value="Upload" />' +
                "</form></main></body></html>" };
        },
        "/upload.txt": function (req) {
            var out = "", parts = req.postData ? req.postData.content : [];
            for (var i = 0; i < parts.length; i++)
                out += utils.sprintf("part %d: name=%s filename=%s type=%s bytes=%d\n", i,
                    parts[i].name, parts[i].filename || "-", parts[i]["Content-Type"] || "-",
                    parts[i].content.length);
            return { txt: out || "no parts\n" };
        },
        "/jsonpost.html": function () {
            return { html: '<html><head><link rel="stylesheet" href="/style.css"><script>\n' +
                'function senddata(){\n' +
                '  var xhr = new XMLHttpRequest();\n' +
                '  xhr.open("POST", "/showreq.json");\n' +
                '  xhr.setRequestHeader("Content-Type", "application/json");\n' +
                '  xhr.onreadystatechange = function () {\n' +
                '    if (xhr.readyState === 4) document.querySelector("#res").textContent = this.responseText;\n' +
                '  };\n' +
                '  xhr.send(JSON.stringify({first: document.querySelector("#fname").value,\n' +
                '                           last: document.querySelector("#lname").value}));\n' +
                '  return false;\n}\n</script></head><body><main><h1>Post JSON</h1>' +
                '<input id="fname" placeholder="first"> <input id="lname" placeholder="last"> ' +
                '<button onclick="return senddata()">Submit</button><pre id="res"></pre></main></body></html>' };
        },
        "/showreq.json": function (req) {
            return { json: { postData: req.postData } };
        },
        "/multi/": { module: "modules/multi_function.js" },
        "/myfunc.html": { module: "modules/mymod" },
        "/scripts/": { modulePath: "modules/" },
        "/old.html": function (req) {
            var newurl = req.path.scheme + req.path.host + "/helloWorld.html";
            return {
                status: 302,
                html: utils.sprintf('<p>Document moved <a href="%s">here</a></p>', newurl),
                headers: { location: newurl }
            };
        },
        "/broken.html": function () {
            return { html: undefinedVariable };   /* developerMode: 500 with the line */
        },
        "/logo.svg": function () {
            return { svg: "@www/img/rampart.svg" };
        }
    }
});

console.log("demo.js: serving examples/www and the JavaScript examples on " +
            "http://127.0.0.1:8088/ (pid " + pid + ")");
