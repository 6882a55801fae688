/* json_post.js - Posting JSON Data: the page posts JSON with XMLHttpRequest,
 * the function answers with the parsed req.postData.
 *
 *   rampart examples/json_post.js       then open http://127.0.0.1:8088/post.html
 *   curl -H 'Content-Type: application/json' -d '{"first":"Joe","last":"Public"}' \
 *        http://127.0.0.1:8088/showreq.json
 *
 * A body that is not valid JSON is answered 400 Bad Request with the reason.
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/post.html": function () {
            var html = '<html><head><script>\n' +
                'function senddata(){\n' +
                '  var first = document.querySelector("#fname");\n' +
                '  var last = document.querySelector("#lname");\n' +
                '  var res = document.querySelector("#res");\n' +
                '  var xhr = new XMLHttpRequest();\n' +
                '  xhr.open("POST", "/showreq.json");\n' +
                '  xhr.setRequestHeader("Content-Type", "application/json");\n' +
                '  xhr.onreadystatechange = function () {\n' +
                '    if (xhr.readyState === 4 && xhr.status === 200)\n' +
                '      res.innerHTML = "<pre>" + this.responseText + "</pre>";\n' +
                '  };\n' +
                '  xhr.send(JSON.stringify({first: first.value, last: last.value}));\n' +
                '  return false;\n' +
                '}\n</script></head><body>' +
                '<label for="fname">First name:</label><br>' +
                '<input type="text" id="fname" name="fname"><br>' +
                '<label for="lname">Last name:</label><br>' +
                '<input type="text" id="lname" name="lname">' +
                '<button onclick="return senddata()">Submit</button>' +
                '<div id="res"></div></body></html>';
            return { html: html };
        },
        "/showreq.json": function (req) {
            return { json: { postData: req.postData, params: { first: req.params.first,
                                                               last: req.params.last } } };
        }
    }
});
