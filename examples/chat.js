/* chat.js - the spec's websocket echo/chat server ("Example echo/chat
 * server"): websockets plus rampart.event.
 *
 *   rampart examples/chat.js
 *   open http://127.0.0.1:8088/ in two browser tabs and type in one
 *
 * Every connection registers an event callback named after its
 * websocketId; a message from one client is echoed back to it and
 * triggered as "myev" to all the others, whatever thread they are on.  When
 * a client goes away, its callback is removed in wsOnDisconnect.
 *
 * BIND=127.0.0.1:9000 picks another address (the page connects back to
 * whatever host and port it was loaded from).  CLUSTER=redis://127.0.0.1:6379/0
 * joins the servers that share that Redis: a message typed on one reaches
 * the clients of all (rampart.event crosses servers; mod_cluster).
 */

/* load the http server module */
var server = require("rampart-server");

/* this function just returns html */
function frontpage(req) {
    return {html: [
        '<!DOCTYPE html>',
        '<html><head><meta charset="utf-8"><title>rampart chat</title></head>',
        '<body>',
        '<div id="chatbox"></div>',
        '<input id="chatin" type=text style="width:50%">',
        '<button id="send">send</button>',
        '<script>',
        '    var chatbox = document.getElementById("chatbox");',
        '    var chatin = document.getElementById("chatin");',
        '    var send = document.getElementById("send");',
        '    var proto = location.protocol == "https:" ? "wss://" : "ws://";',
        '    var socket = new WebSocket(proto + location.host + "/ws");',
        '',
        '    function showmsg(msg) {',
        '        var node = document.createElement("p");',
        '        var textnode = document.createTextNode(msg.data);',
        '        node.appendChild(textnode);',
        '        chatbox.appendChild(node);',
        '    }',
        '',
        '    socket.addEventListener("open", function (e) {',
        '        socket.onmessage = showmsg;',
        '        document.body.setAttribute("data-connected", "1");',
        '    });',
        '',
        '    send.onclick = function () {',
        '        if (socket.readyState === socket.OPEN) {',
        '            socket.send(chatin.value);',
        '            chatin.value = "";',
        '        }',
        '    };',
        '    chatin.addEventListener("keyup", function (e) {',
        '        if (e.key === "Enter")',
        '            send.onclick();',
        '    });',
        '</script>',
        '</body></html>'
    ].join("\n")};
}

function ws_handler(req) {
    /* the setup upon first connecting */
    if (req.count == 0) {
        /* make a name for our event callback function
           which is unique for this connection and that we can
           use to insert and remove the event callback         */
        var func_name = "myfunc_" + req.websocketId;

        /* what to do if client disconnects */
        req.wsOnDisconnect(function () {
            /* remove our event callback function */
            rampart.event.off("myev", func_name);
        });

        /* insert the callback */
        rampart.event.on("myev", func_name, function (req, data) {
            // only send if from someone else
            if (data.id != req.websocketId)
                req.wsSend(data.msg);
        }, req);

        /* first connect message */
        return "Greetings, I'm an example echo/chat server";
    }

    /* second and subsequent runs of this callback start here: */

    //convert body from a buffer to a string
    req.body = rampart.utils.bufferToString(req.body);

    if (req.body.length) {
        /* send message to any other client that is connected */
        rampart.event.trigger("myev", {
            id: req.websocketId,
            msg: "a message from " + req.websocketId + ": " + req.body
        });

        /* echo message to this client */
        return req.body;
    }
    //do nothing if we get to here.
}

var pid = server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",            /* only used when started as root */
    cluster: process.env.CLUSTER, /* unset: this server alone */
    map: {
        "/": frontpage,
        "ws:/ws": ws_handler
    }
});

rampart.utils.printf("\nWebchat is available here:\nhttp://%s/\n",
                     process.env.BIND || "localhost:8088");
